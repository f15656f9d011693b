"""A training set the Trainer does not hold: a source of mini-batches it draws each epoch from, for data
larger than memory. `mlp.data.stream.ParquetBatches` streams them from an ingested Parquet data set.

The Trainer gives the source its batch size, its shuffling generator (seeded from the configuration and
saved in last.npz, so a resumed fit draws the same) and whether to shuffle; the source yields (X, y)
batches, X (b, n_in) the model's inputs (normalised, augmented: whatever the source does per batch), y (b,)
labels, every row once per epoch.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol, runtime_checkable

import numpy as np


@runtime_checkable
class BatchSource(Protocol):
    """What `Trainer.fit` takes in place of X (with y None)."""

    n_rows: int  # rows per epoch

    def batches(self, batch_size: int, rng: np.random.Generator,
                shuffle: bool) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """One epoch's (X (b, n_in), y (b,)) batches, every row once; b = batch_size but the last."""
        ...

    def fingerprint(self) -> str:
        """What identifies the data for resume (a fit refuses to resume on other data)."""
        ...
