"""A uniformly random order of a training set larger than memory: the two-pass bucket shuffle.

Pass one reads the rows a part at a time and sends each row to one of `n_buckets` buckets drawn at random,
appending it to that bucket's spill files on disk. Pass two loads one bucket at a time, shuffles it in memory
and hands it on. Every order of the rows is equally likely (a row's bucket and its place in the bucket are
independent uniform draws), and memory holds one part or one bucket: about n_rows / n_buckets rows.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np


def n_buckets_for(n_rows: int, bucket_rows: int) -> int:
    """Buckets for `n_rows` rows such that one holds about bucket_rows / 2 on average: a bucket rarely
    exceeds `bucket_rows` (its size is binomial; twice its mean is many deviations away for a mean of a few
    dozen rows or more)."""
    for name, value in (("n_rows", n_rows), ("bucket_rows", bucket_rows)):
        if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
            raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
    return max(1, -(-2 * int(n_rows) // int(bucket_rows)))


def bucket_shuffle(parts: Iterable[tuple[np.ndarray, np.ndarray]], n_buckets: int, rng: np.random.Generator,
                   spill_dir: str | os.PathLike,
                   prefix: str = ".buckets-") -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """The rows of `parts` ((pixels (k, h*w) uint8, labels (k,) int64) each) in a random order drawn from
    `rng`, one shuffled bucket at a time. Spill files go to a fresh folder `<prefix><token>` inside
    `spill_dir`, removed when the generator ends or is closed (a killed process leaves it behind)."""
    if isinstance(n_buckets, bool) or not isinstance(n_buckets, int) or n_buckets < 1:
        raise ValueError(f"n_buckets must be an integer >= 1, got {n_buckets!r}")
    Path(spill_dir).mkdir(parents=True, exist_ok=True)
    folder = Path(tempfile.mkdtemp(prefix=prefix, dir=spill_dir))
    try:
        n_features = None
        for X, y in parts:
            X, y = np.asarray(X, np.uint8), np.asarray(y, np.int64)
            if X.ndim != 2 or y.shape != (len(X),):
                raise ValueError(f"a part must be pixels (k, h*w) and labels (k,), got {X.shape} and "
                                 f"{y.shape}")
            if n_features is not None and X.shape[1] != n_features:
                raise ValueError(f"a part has {X.shape[1]} pixels a row; the earlier ones had {n_features}")
            n_features = X.shape[1]
            bucket = rng.integers(n_buckets, size=len(y))
            for b in np.unique(bucket):
                pick = bucket == b
                with open(folder / f"{b}.pixels", "ab") as pixels, \
                        open(folder / f"{b}.labels", "ab") as labels:
                    pixels.write(np.ascontiguousarray(X[pick]).tobytes())
                    labels.write(y[pick].tobytes())
        if n_features is None:
            raise ValueError("no rows to shuffle")
        for b in range(n_buckets):
            if not (folder / f"{b}.labels").is_file():
                continue
            X = np.fromfile(folder / f"{b}.pixels", np.uint8).reshape(-1, n_features)
            y = np.fromfile(folder / f"{b}.labels", np.int64)
            (folder / f"{b}.pixels").unlink()
            (folder / f"{b}.labels").unlink()
            order = rng.permutation(len(y))
            yield X[order], y[order]
    finally:
        shutil.rmtree(folder, ignore_errors=True)
