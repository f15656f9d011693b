"""Ingest speed: mlpflow's ``files.ingest`` (cold, then an incremental no-op) against the seed design's loop.

The seed design: ``os.walk`` + ``Image.open`` + ``np.asarray`` into a Python list, then ``np.array``. It
keeps the arrays in memory only; ``ingest`` also hashes every file, checks quality and writes Parquet. Files
are read once before timing, so both run from a warm page cache. Best of ``--repeat`` runs.

    python -m benchmarks.bench_ingest [--root ../shared/datasets/hanzi12] [--repeat 3]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image

from mlp.data import files

DEFAULT_ROOT = Path(__file__).resolve().parents[1].parent / "shared" / "datasets" / "hanzi12"


def seed_design(root: Path) -> tuple[np.ndarray, np.ndarray]:
    """The seed design's loader: X (n, h, w) as Pillow hands it over (bool for 1-bit files), labels (n,)."""
    images, labels = [], []
    for dirpath, _, filenames in os.walk(root / "train"):
        for name in filenames:
            images.append(np.asarray(Image.open(os.path.join(dirpath, name))))
            labels.append(os.path.basename(dirpath))
    return np.array(images), np.array(labels)


def best_of(repeat: int, run: Callable[[], object]) -> tuple[float, object]:
    """The shortest wall time of ``repeat`` calls, and the last call's result."""
    best, result = float("inf"), None
    for _ in range(repeat):
        start = time.perf_counter()
        result = run()
        best = min(best, time.perf_counter() - start)
    return best, result


def main(root: Path, repeat: int) -> None:
    X_seed, _ = seed_design(root)  # warm the page cache
    n = len(X_seed)
    with tempfile.TemporaryDirectory() as tmp:
        counter = iter(range(10**6))
        cold, result = best_of(repeat, lambda: files.ingest(root, Path(tmp) / f"cold{next(counter)}.parquet"))
        noop, again = best_of(repeat, lambda: files.ingest(root, result.path))
        read, ds = best_of(repeat, lambda: files.read_dataset(result.path))
        seed, _ = best_of(repeat, lambda: seed_design(root))
        size = result.path.stat().st_size
    assert result.n_decoded == n and again.n_decoded == 0 and len(ds) == n, "unexpected ingest outcome"
    print(f"{n} images of {ds.image_shape[0]}x{ds.image_shape[1]} from {root} (best of {repeat})")
    rows = [
        ("seed design (walk, open, asarray, np.array)", seed),
        ("mlpflow ingest, cold (decode, hash, check, Parquet)", cold),
        ("mlpflow ingest, unchanged folder (no-op)", noop),
        ("mlpflow read_dataset (Parquet -> arrays)", read),
    ]
    for label, seconds in rows:
        ratio = seconds / seed
        print(f"  {label:<52} {seconds:7.3f} s  {n / seconds:9,.0f} images/s  {ratio:5.2f}x the seed's time")
    print(f"  Parquet file: {size / 1e6:.2f} MB")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=DEFAULT_ROOT, help="data root with train/<label>/")
    parser.add_argument("--repeat", type=int, default=3, help="runs per measurement; the best counts")
    args = parser.parse_args()
    main(args.root, args.repeat)
