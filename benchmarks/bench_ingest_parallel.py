"""Ingest throughput, serial against parallel (`files.ingest(workers=N)`), on the same generated folder of
28x28 BMP images (100,000 by default: 10 classes of 10,000).

The folder is written once under --dir and reused; its files are read once before timing (a warm page
cache, as for bench_ingest). Each run is a cold ingest into a new Parquet file (every file decoded, hashed,
checked and written); serial and parallel runs alternate. Figures: images/s, the median of --repeat runs
with the range (min-max). The parallel data set is checked to hold the serial one's rows and hashes.

    python -m benchmarks.bench_ingest_parallel [--images 100000] [--workers 2] [--repeat 3]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
from PIL import Image

from mlp.data import files

CLASSES, SIDE = 10, 28


def generate(root: Path, n: int, seed: int = 0) -> Path:
    """n 28x28 8-bit BMPs in CLASSES class folders under root/train (kept if already complete)."""
    per_class = n // CLASSES
    if (root / "train").is_dir() and sum(1 for _ in (root / "train").rglob("*.bmp")) == per_class * CLASSES:
        return root
    rng = np.random.default_rng(seed)
    for k in range(CLASSES):
        folder = root / "train" / str(k)
        folder.mkdir(parents=True, exist_ok=True)
        pixels = rng.integers(0, 256, (per_class, SIDE, SIDE), dtype=np.uint8)
        for i in range(per_class):
            Image.fromarray(pixels[i], "L").save(folder / f"{i}.bmp")
    return root


def warm(root: Path) -> int:
    """Read every file once (the page cache); the number of files."""
    return sum(len(path.read_bytes()) > 0 for path in (root / "train").rglob("*.bmp"))


def main(args: argparse.Namespace) -> None:
    root = generate(args.dir / f"bmp-{args.images}", args.images)
    n = warm(root)
    times: dict[str, list[float]] = {"serial": [], f"{args.workers} processes": []}
    with tempfile.TemporaryDirectory() as tmp:
        paths = {}
        for r in range(args.repeat):
            for name, workers in (("serial", 1), (f"{args.workers} processes", args.workers)):
                out = Path(tmp) / f"{workers}-{r}.parquet"
                started = time.perf_counter()
                result = files.ingest(root, out, workers=workers)
                times[name].append(time.perf_counter() - started)
                assert result.n_decoded == n, "every file is decoded"
                paths[name] = out
        serial, parallel = (pq.read_table(p) for p in paths.values())
        assert serial.equals(parallel), "the parallel ingest's rows differ from the serial ones"
    print(f"Ingest of {n:,} BMPs of {SIDE}x{SIDE} ({root}), cold into a new Parquet file; images/s, median "
          f"(range) of {args.repeat} runs\n")
    print("| ingest | images/s | seconds |")
    print("|---|---:|---:|")
    for name, runs in times.items():
        rates = [n / t for t in runs]
        print(f"| {name} | {statistics.median(rates):,.0f} ({min(rates):,.0f}-{max(rates):,.0f}) | "
              f"{statistics.median(runs):.1f} ({min(runs):.1f}-{max(runs):.1f}) |")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=100_000, help="images in the generated folder")
    parser.add_argument("--workers", type=int, default=2, help="processes of the parallel ingest")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each")
    parser.add_argument("--dir", type=Path, default=Path("/tmp/mlpflow-bench-ingest"),
                        help="where the folder of images is written (and reused)")
    main(parser.parse_args())
