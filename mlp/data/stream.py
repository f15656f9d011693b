"""Training batches streamed from an ingested Parquet data set, for training sets larger than memory.

`ParquetBatches` is a `mlp.batch_source.BatchSource`: each epoch it reads the data set's row groups in a
random order (pyarrow, the pixels and label columns only), gathers them in a shuffle buffer of at most
`buffer_rows` rows, shuffles the buffer and hands out its batches, each made into the model's inputs by
`transform(X, rng)` (normalisation and augmentation per batch), while the next row group is read in a
background thread. Memory stays at the buffer's rows whatever the data set's size.

Rows are shuffled across row groups (their order) and within the buffer (its rows), not over the whole data
set. Ingest writes rows in folder order, class after class: a buffer of a few row groups then holds a few
classes. Write the training rows once in random order (`write_rows` of a permutation, as the pipeline's
shuffle stage does for the in-memory training set) and the buffer's batches mix every class.

`row_group_parts` reads chosen rows of a data set a row group at a time (the pipeline fits its normalisers
and writes its shuffled training file from them without loading the training split whole).

`choose` says whether a training set of n rows is loaded whole or streamed, from `STREAMING`'s
declarations (mlp.hyper): data_source (auto, memory, stream) and memory_budget_mb.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from mlp.atomic import atomic_open
from mlp.data.files import pixel_rows
from mlp.hyper import STREAMING

Transform = Callable[[np.ndarray, np.random.Generator], np.ndarray]
# Bytes per pixel of a training set held in memory: the raw uint8 rows, the network's float32 inputs, and an
# augmented epoch's float32 inputs with the next one made ahead (mlp.epoch_inputs).
IN_MEMORY_BYTES_PER_PIXEL = 1 + 3 * 4


def budget_rows(memory_budget_mb: float, n_features: int) -> int:
    """The rows of `n_features` pixels whose training in memory fits `memory_budget_mb`, at least 1."""
    budget = STREAMING.memory_budget_mb.check(memory_budget_mb)
    return max(1, int(budget * 2**20) // (n_features * IN_MEMORY_BYTES_PER_PIXEL))


def choose(data_source: str, memory_budget_mb: float, n_rows: int, n_features: int) -> str:
    """"memory" or "stream": `data_source` itself, or for "auto", stream when the n_rows training rows would
    take more than the budget in memory."""
    data_source = STREAMING.data_source.check(data_source)
    rows = budget_rows(memory_budget_mb, n_features)
    if data_source != "auto":
        return data_source
    return "stream" if n_rows > rows else "memory"


def write_rows(path: str | os.PathLike, parts: Iterable[tuple[np.ndarray, np.ndarray]],
               row_group_rows: int) -> Path:
    """Write (pixels (k, h*w) uint8, labels (k,)) parts, one after another, as a Parquet file of the pixels
    and label columns a `ParquetBatches` reads, in row groups of at most `row_group_rows` rows; a part at a
    time, so a data set larger than memory can be written. Returns the path."""
    if isinstance(row_group_rows, bool) or not isinstance(row_group_rows, int) or row_group_rows < 1:
        raise ValueError(f"row_group_rows must be an integer >= 1, got {row_group_rows!r}")
    writer = None
    with atomic_open(path) as handle:
        try:
            for X, y in parts:
                X, y = np.asarray(X, np.uint8), np.asarray(y, np.int64)
                if X.ndim != 2 or y.shape != (len(X),):
                    raise ValueError(f"a part must be pixels (k, h*w) and labels (k,), got {X.shape} and "
                                     f"{y.shape}")
                pixels = pa.FixedSizeListArray.from_arrays(pa.array(X.ravel(), pa.uint8()), X.shape[1])
                table = pa.Table.from_arrays([pixels, pa.array(y, pa.int64())], names=["pixels", "label"])
                writer = writer or pq.ParquetWriter(handle, table.schema, compression="zstd")
                writer.write_table(table, row_group_size=row_group_rows)
            if writer is None:
                raise ValueError(f"no rows to write to {path}")
        finally:
            if writer is not None:
                writer.close()
    return Path(path)


def row_group_parts(path: str | os.PathLike,
                    rows: np.ndarray | None = None) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """The rows `rows` (indices into the Parquet data set at `path`, any order, each taken once; None: every
    row) in the file's order, a row group at a time: (pixels (k, h*w) uint8, labels (k,) int64) parts, row
    groups holding none of them skipped. Memory: one row group."""
    file = pq.ParquetFile(path)
    meta = file.metadata
    if rows is not None:
        rows = np.unique(np.asarray(rows, dtype=np.int64))
        if len(rows) and (rows[0] < 0 or rows[-1] >= meta.num_rows):
            raise ValueError(f"rows must lie in [0, {meta.num_rows}) (the rows of {path}), got {rows[0]} to "
                             f"{rows[-1]}")
    start = 0
    for g in range(meta.num_row_groups):
        size = meta.row_group(g).num_rows
        pick = slice(None)
        if rows is not None:
            lo, hi = np.searchsorted(rows, [start, start + size])
            pick = rows[lo:hi] - start
        start += size
        if rows is not None and len(pick) == 0:
            continue
        table = file.read_row_group(g, columns=["pixels", "label"])
        yield pixel_rows(table)[pick], table.column("label").to_numpy()[pick].astype(np.int64)


def read_rows(path: str | os.PathLike, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The rows `rows` (indices, in this order, repeats allowed) of a Parquet data set: pixels (k, h*w) uint8
    and labels (k,) int64, read a row group at a time; memory: those rows."""
    rows = np.asarray(rows, dtype=np.int64)
    unique = np.unique(rows)
    parts = list(row_group_parts(path, unique))
    if not parts:
        n_features = pq.ParquetFile(path).schema_arrow.field("pixels").type.list_size
        return np.empty((0, n_features), np.uint8), np.empty(0, np.int64)
    at = np.searchsorted(unique, rows)
    return np.concatenate([X for X, _ in parts])[at], np.concatenate([y for _, y in parts])[at]


def count_rows(path: str | os.PathLike) -> int:
    """The rows of a Parquet file, from its footer (nothing else is read)."""
    return pq.ParquetFile(path).metadata.num_rows


def read_labels(path: str | os.PathLike) -> np.ndarray:
    """The label column of a Parquet data set, (n,) int64, without its pixels."""
    return pq.read_table(path, columns=["label"]).column("label").to_numpy().astype(np.int64)


def _as_float32(X: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    return X.astype(np.float32)


class ParquetBatches:
    """Batches of the rows `rows` (indices into the data set at `path`; None: every row) of an ingested
    Parquet data set, streamed by row groups through a shuffle buffer of at most `buffer_rows` rows.

    `transform(X (b, h*w) uint8, rng) -> (b, n_in)` makes each batch's inputs (default: float32 pixels).
    `peak_rows` is the most rows it held at once (the buffer, with the row group being read)."""

    def __init__(self, path: str | os.PathLike, *, buffer_rows: int, rows: np.ndarray | None = None,
                 transform: Transform | None = None) -> None:
        self.path = Path(path)
        self._file = pq.ParquetFile(self.path)
        meta = self._file.metadata
        sizes = np.array([meta.row_group(g).num_rows for g in range(meta.num_row_groups)], np.int64)
        starts = np.concatenate([[0], np.cumsum(sizes)])
        n_total = int(starts[-1])
        if rows is None:
            rows = np.arange(n_total, dtype=np.int64)
        rows = np.unique(np.asarray(rows, dtype=np.int64))
        if len(rows) == 0:
            raise ValueError(f"no rows to stream from {self.path}")
        if rows[0] < 0 or rows[-1] >= n_total:
            raise ValueError(f"rows must lie in [0, {n_total}) (the rows of {self.path}), got {rows[0]} to "
                             f"{rows[-1]}")
        cut = np.searchsorted(rows, starts)
        self._local = [rows[cut[g]:cut[g + 1]] - starts[g] for g in range(len(sizes))]  # rows per group
        self._sizes = sizes
        largest = int(sizes.max())
        if isinstance(buffer_rows, bool) or not isinstance(buffer_rows, int | np.integer) or \
                buffer_rows < largest:
            raise ValueError(f"buffer_rows must be an integer of at least {largest} (the largest row group "
                             f"of {self.path}), got {buffer_rows!r}")
        self.buffer_rows = int(buffer_rows)
        self.n_rows = len(rows)
        self.n_features = self._file.schema_arrow.field("pixels").type.list_size
        self.transform = transform or _as_float32
        self.peak_rows = 0
        stat = self.path.stat()
        digest = hashlib.sha256(rows.tobytes()).hexdigest()
        self._fingerprint = f"{self.path.resolve()}:{stat.st_size}:{stat.st_mtime_ns}:{digest}"

    def fingerprint(self) -> str:
        """The file (path, size, mtime) and the rows streamed."""
        return self._fingerprint

    def _read(self, group: int) -> tuple[np.ndarray, np.ndarray]:
        """The selected rows of one row group: pixels (k, h*w) uint8, labels (k,) int64."""
        table = self._file.read_row_group(group, columns=["pixels", "label"])
        pick = self._local[group]
        return pixel_rows(table)[pick], table.column("label").to_numpy()[pick].astype(np.int64)

    def batches(self, batch_size: int, rng: np.random.Generator,
                shuffle: bool) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """One epoch's (inputs (b, n_in), labels (b,)) batches, every row once; b = batch_size but the last.
        With `shuffle`, row groups come in an order drawn from `rng`, and the buffer's rows are shuffled.
        The next row group is read in a background thread while the buffer's batches train (pyarrow
        decompresses without the GIL); the buffer keeps room for it."""
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size must be an integer >= 1, got {batch_size!r}")
        largest = int(self._sizes.max())
        if self.buffer_rows < 2 * largest + batch_size - 1:
            raise ValueError(f"buffer_rows {self.buffer_rows} cannot hold two row groups of {largest} rows "
                             f"(one read ahead) beside the {batch_size - 1} rows short of a batch of "
                             f"{batch_size}: give at least {2 * largest + batch_size - 1}")
        groups = [g for g in (rng.permutation(len(self._sizes)) if shuffle else range(len(self._sizes)))
                  if len(self._local[g])]
        room = self.buffer_rows - largest  # the rest is the row group read ahead
        buffer_X = np.empty((room, self.n_features), np.uint8)
        buffer_y = np.empty(room, np.int64)
        held = 0
        with ThreadPoolExecutor(1, "mlp-stream") as reader:
            ahead = reader.submit(self._read, groups[0]) if groups else None
            for k, g in enumerate(groups):
                X, y = ahead.result()
                ahead = reader.submit(self._read, groups[k + 1]) if k + 1 < len(groups) else None
                # Held now: the buffer, this group (read whole by pyarrow) and the next one being read.
                if held + int(self._sizes[g]) > room:
                    held = yield from self._drain(buffer_X, buffer_y, held, batch_size, rng, shuffle, False)
                self.peak_rows = max(self.peak_rows, held + int(self._sizes[g]) + (
                    int(self._sizes[groups[k + 1]]) if k + 1 < len(groups) else 0))
                buffer_X[held:held + len(y)], buffer_y[held:held + len(y)] = X, y
                held += len(y)
            yield from self._drain(buffer_X, buffer_y, held, batch_size, rng, shuffle, final=True)

    def _drain(self, buffer_X: np.ndarray, buffer_y: np.ndarray, held: int, batch_size: int,
               rng: np.random.Generator, shuffle: bool, final: bool):
        """Yield the buffer's first `held` rows as full batches in a shuffled order (all of them, the last
        batch short, when `final`); move the rows left to the buffer's front and return how many."""
        order = rng.permutation(held) if shuffle else np.arange(held)
        end = held if final else held - held % batch_size
        for start in range(0, end, batch_size):
            pick = order[start:min(start + batch_size, end)]
            yield self.transform(buffer_X[pick], rng), buffer_y[pick]  # copies: the buffer is refilled
        rest = order[end:]
        buffer_X[:len(rest)], buffer_y[:len(rest)] = buffer_X[rest], buffer_y[rest]
        return len(rest)
