"""Where a run's training rows come from: held in memory (data/train.npz) or streamed (data/train.parquet).

`plan_training_data` decides it from --data-source and --memory-budget-mb (`mlp.data.stream.choose`: auto
streams when the training rows, five copies of each with --augment shift, would take more than the budget in
memory) and sizes the stream: the budget's rows (`budget_rows`) shared by the networks training side by
side, each network's shuffle buffer holding its share, and the training file's row groups small enough that
a buffer holds two of them (one read ahead) beside a batch. The decision is the same at every stage of a run
(it depends on the split, the data set's image shape and the parameters only).

In stream mode the stages never hold the training split whole: the normalisers are fitted over its row
groups (`transforms.NormalizerFit`), the shuffle stage writes the rows in random order to data/train.parquet
by a two-pass bucket shuffle (`mlp.data.bucket_shuffle`), and each network streams its batches from it
(`network_source`), distorted and normalised per batch. The validation split stays in memory (val.npz).
--augment shift (five fixed copies of every image, made once) does not stream: it is refused in one line.
"""

from __future__ import annotations

import hashlib
import math
import os
from dataclasses import dataclass
from pathlib import Path

from flows.pipeline.params import PipelineParams
from flows.store.layout import RunLayout
from mlp.data import files
from mlp.data.stream import (
    IN_MEMORY_BYTES_PER_PIXEL,
    ParquetBatches,
    Transform,
    budget_rows,
    choose,
    count_rows,
)

SHIFT_COPIES = 5  # --augment shift: each image as drawn and moved a pixel up, down, left and right


@dataclass(frozen=True)
class TrainingData:
    """How a run holds its training rows: `source` memory or stream; for a stream, the budget's rows, each
    network's shuffle buffer and the training file's row group size."""

    source: str
    n_rows: int  # training rows of the split (before --augment shift's copies)
    n_features: int
    budget_rows: int = 0
    buffer_rows: int = 0
    row_group_rows: int = 0

    @property
    def streamed(self) -> bool:
        return self.source == "stream"

    def describe(self) -> str:
        """One line for the log."""
        if not self.streamed:
            return f"Training data: {self.n_rows:,} rows held in memory"
        return (f"Training data: {self.n_rows:,} rows streamed from Parquet, at most {self.buffer_rows:,} "
                f"held by each network's shuffle buffer ({self.budget_rows:,} rows fit the memory budget), "
                f"row groups of {self.row_group_rows:,}")


def plan_training_data(layout: RunLayout, params: PipelineParams) -> TrainingData:
    """Memory or stream for this run's training split (layout.split) and `params`; ValueError, one line
    naming the flag, for --augment shift streamed or a budget too small for a stream."""
    n_rows = len(files.load_arrays(layout.split)["train"])
    n_features = math.prod(files.read_metadata(layout.dataset)["image_shape"])
    held = n_rows * (SHIFT_COPIES if params.augment == "shift" else 1)
    source = choose(params.data_source, params.memory_budget_mb, held, n_features)
    if source == "memory":
        return TrainingData("memory", n_rows, n_features)
    if params.augment == "shift":
        why = "" if params.data_source == "stream" else f", as auto does above --memory-budget-mb " \
            f"{params.memory_budget_mb:g}"
        raise ValueError(f"--augment shift cannot stream (--data-source {params.data_source}{why}): it makes "
                         f"{SHIFT_COPIES} copies of every image once; use --augment distort (fresh "
                         "distortions of every streamed batch) or none")
    networks = len(params.members)
    rows = budget_rows(params.memory_budget_mb, n_features)
    buffer = rows // networks
    batch = min(params.batch_size, n_rows)
    group = min(files.ROW_GROUP_ROWS, (buffer - batch + 1) // 2)
    if group < 1:
        needed = (batch + 1) * networks * n_features * IN_MEMORY_BYTES_PER_PIXEL / 2**20
        raise ValueError(f"--memory-budget-mb {params.memory_budget_mb:g} leaves each of the {networks} "
                         f"network(s) a stream of {buffer} rows, too few for a batch of {batch} beside two "
                         f"row groups: give at least {math.ceil(needed * 100) / 100:g}, or a smaller "
                         "--batch-size")
    return TrainingData("stream", n_rows, n_features, rows, buffer, group)


def n_training_rows(layout: RunLayout) -> int:
    """The rows the networks trained on: data/train.npz's, or data/train.parquet's when the run streamed."""
    if layout.train_stream.is_file() and not layout.train_data.is_file():
        return count_rows(layout.train_stream)
    return len(files.load_arrays(layout.train_data)["y"])


def network_source(layout: RunLayout, plan: TrainingData, transform: Transform) -> ParquetBatches:
    """One network's batches from data/train.parquet, through its shuffle buffer, made into its inputs by
    `transform(raw pixels, rng)`."""
    return ParquetBatches(layout.train_stream, buffer_rows=plan.buffer_rows, transform=transform)


def _digest(path: Path) -> str:
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def replace_unless_same(new: Path, target: Path) -> Path:
    """Move `new` onto `target`, unless `target` already holds the same bytes: then `new` goes and `target`
    stays as it was (its modification time too, which a stream's fingerprint covers, so that a resumed run
    that writes its training file again still resumes). Returns `target`."""
    if target.is_file() and _digest(target) == _digest(new):
        new.unlink()
    else:
        os.replace(new, target)
    return target

