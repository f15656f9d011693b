"""Streaming training batches from Parquet: every row once an epoch, shuffled across row groups and within
the buffer, never more rows held than the buffer; training on the stream reaches the in-memory accuracy."""

from __future__ import annotations

import numpy as np
import pyarrow.parquet as pq
import pytest

from mlp import MLP, TrainConfig, Trainer
from mlp.batch_source import BatchSource
from mlp.data import transforms as T
from mlp.data.stream import ParquetBatches, budget_rows, choose, write_rows

N_CLASSES, SIDE = 10, 8


def blobs(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """n noisy 8x8 images of 10 random prototypes, in shuffled order: X (n, 64) uint8, y (n,)."""
    rng = np.random.default_rng(seed)
    prototypes = rng.integers(0, 256, (N_CLASSES, SIDE * SIDE))
    y = rng.integers(0, N_CLASSES, n)
    X = np.clip(prototypes[y] + rng.normal(0, 150, (n, SIDE * SIDE)), 0, 255).astype(np.uint8)
    return X, y


def numbered(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Rows whose first two pixels spell their index; label = index % 10."""
    ids = np.arange(n)
    X = np.zeros((n, 4), np.uint8)
    X[:, 0], X[:, 1] = ids // 256, ids % 256
    return X, ids % 10


def ids_of(X: np.ndarray) -> np.ndarray:
    return (X[:, 0].astype(np.int64) * 256 + X[:, 1]).astype(np.int64)


def test_every_selected_row_once_an_epoch_shuffled_across_row_groups(tmp_path):
    path = write_rows(tmp_path / "n.parquet", [numbered(1000)], row_group_rows=100)
    assert pq.ParquetFile(path).metadata.num_row_groups == 10
    rows = np.arange(0, 1000, 3)  # a subset, as a split's training rows
    source = ParquetBatches(path, rows=rows, buffer_rows=300)
    assert isinstance(source, BatchSource) and source.n_rows == len(rows) == 334
    rng = np.random.default_rng(0)
    epochs = []
    for _ in range(2):
        batches = list(source.batches(32, rng, shuffle=True))
        assert [len(y) for _, y in batches] == [32] * 10 + [14]
        seen = np.concatenate([ids_of(X) for X, _ in batches])
        assert sorted(seen) == list(rows)  # each row once
        assert all((y == ids_of(X) % 10).all() for X, y in batches)  # labels stay with their rows
        assert {X.dtype for X, _ in batches} == {np.dtype(np.float32)}
        epochs.append(seen)
    assert not np.array_equal(epochs[0], epochs[1])  # a new order every epoch
    first = ids_of(batches[0][0]) // 100  # the row groups of one batch: several
    assert len(set(first)) > 1
    assert source.peak_rows <= 300
    in_order = np.concatenate([ids_of(X) for X, _ in source.batches(32, rng, shuffle=False)])
    assert list(in_order) == list(rows)


def test_bad_buffers_and_rows_are_named(tmp_path):
    path = write_rows(tmp_path / "n.parquet", [numbered(500)], row_group_rows=100)
    with pytest.raises(ValueError, match=r"buffer_rows must be an integer of at least 100 .* got 99"):
        ParquetBatches(path, buffer_rows=99)
    with pytest.raises(ValueError, match=r"rows must lie in \[0, 500\) .* got 0 to 500"):
        ParquetBatches(path, rows=[0, 500], buffer_rows=200)
    source = ParquetBatches(path, buffer_rows=230)
    with pytest.raises(ValueError, match=r"buffer_rows 230 cannot hold two row groups of 100 rows \(one read "
                       r"ahead\) beside the 31 rows short of a batch of 32: give at least 231"):
        next(source.batches(32, np.random.default_rng(0), shuffle=True))
    with pytest.raises(ValueError, match="no rows to write"):
        write_rows(tmp_path / "empty.parquet", [], row_group_rows=10)
    assert not (tmp_path / "empty.parquet").exists()


def test_the_budget_chooses_streaming_and_sizes_the_buffer():
    assert budget_rows(1.0, 784) == 2**20 // (784 * 13) == 102
    assert choose("auto", 1.0, 102, 784) == "memory" and choose("auto", 1.0, 103, 784) == "stream"
    assert choose("memory", 1.0, 10**6, 784) == "memory" and choose("stream", 2048, 10, 784) == "stream"
    with pytest.raises(ValueError, match="data_source must be one of auto, memory, stream, got 'disk'"):
        choose("disk", 1.0, 10, 784)
    with pytest.raises(ValueError, match="memory_budget_mb must be a finite number > 0, got 0"):
        budget_rows(0, 784)


def test_streaming_training_reaches_the_in_memory_accuracy_within_the_budgets_rows(tmp_path):
    X, y = blobs(3000)
    train, val = np.arange(2400), np.arange(2400, 3000)
    path = write_rows(tmp_path / "blobs.parquet", [(X[:1500], y[:1500]), (X[1500:], y[1500:])],
                      row_group_rows=200)
    normalizer = T.fit_normalizer(X[train], "per_pixel")
    X_val = normalizer.transform(X[val])
    budget_mb = 0.5  # 630 rows of 64 pixels: a quarter of the training set
    rows = budget_rows(budget_mb, X.shape[1])
    assert rows == 630 and choose("auto", budget_mb, len(train), X.shape[1]) == "stream"
    config = TrainConfig(epochs=8, batch_size=32, lr=1e-3, seed=0, progress=False)

    def accuracy(data, labels) -> float:
        model = MLP([64, 32, N_CLASSES], seed=0)
        history = Trainer(config).fit(model, data, labels, X_val, y[val])
        return history.best.val_accuracy

    in_memory = accuracy(normalizer.transform(X[train]), y[train])
    source = ParquetBatches(path, rows=train, buffer_rows=rows,
                            transform=lambda batch, rng: normalizer.transform(batch))
    streamed = accuracy(source, None)
    # Noisy enough that neither is perfect (about 93%); seeds 0-2 differed by 0.5 points at most.
    assert 0.85 < in_memory < 1 and abs(streamed - in_memory) <= 0.03, (in_memory, streamed)
    assert 0 < source.peak_rows <= rows < len(train)


def test_per_batch_augmentation_draws_from_the_trainers_generator(tmp_path):
    X, y = blobs(600, seed=1)
    path = write_rows(tmp_path / "blobs.parquet", [(X, y)], row_group_rows=100)
    calls = []

    def noisy(batch: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        calls.append(batch.dtype)
        return (batch + rng.normal(0, 10, batch.shape)).astype(np.float32) / 255

    def fit() -> list[float]:
        source = ParquetBatches(path, buffer_rows=300, transform=noisy)
        model = MLP([64, 16, N_CLASSES], seed=0)
        config = TrainConfig(epochs=2, batch_size=50, seed=3, progress=False)
        history = Trainer(config).fit(model, source, None)
        return [r.train_loss for r in history.records]

    assert fit() == fit()  # the same seed draws the same order and the same noise
    assert set(calls) == {np.dtype(np.uint8)} and len(calls) == 2 * 2 * 12  # raw rows, per batch
    with pytest.raises(ValueError, match="with a BatchSource as X, give y=None and no augment"):
        Trainer(TrainConfig(epochs=1, progress=False)).fit(MLP([64, 4, N_CLASSES]),
                                                           ParquetBatches(path, buffer_rows=300), y)


def test_row_group_parts_read_the_chosen_rows_a_row_group_at_a_time(tmp_path):
    from mlp.data.stream import count_rows, read_labels, row_group_parts

    path = write_rows(tmp_path / "n.parquet", [numbered(1000)], row_group_rows=100)
    chosen = np.random.default_rng(0).choice(1000, 300, replace=False)
    parts = list(row_group_parts(path, chosen))
    assert all(len(y) <= 100 for _, y in parts)
    got = np.concatenate([ids_of(X) for X, _ in parts])
    assert np.array_equal(got, np.sort(chosen))  # in the file's order, each once
    assert np.array_equal(np.concatenate([y for _, y in parts]), np.sort(chosen) % 10)
    assert sum(len(y) for _, y in row_group_parts(path)) == 1000 == count_rows(path)
    assert list(row_group_parts(path, np.arange(0, 50))) and len(list(row_group_parts(path, [5]))) == 1
    assert np.array_equal(read_labels(path), np.arange(1000) % 10)
    with pytest.raises(ValueError, match=r"rows must lie in \[0, 1000\)"):
        next(row_group_parts(path, [999, 1000]))


def test_read_rows_gives_the_chosen_rows_in_their_order(tmp_path):
    from mlp.data.stream import read_rows

    path = write_rows(tmp_path / "n.parquet", [numbered(1000)], row_group_rows=100)
    rows = np.array([512, 3, 999, 3, 0, 250])
    X, y = read_rows(path, rows)
    assert X.dtype == np.uint8 and np.array_equal(ids_of(X), rows) and np.array_equal(y, rows % 10)
    X, y = read_rows(path, np.empty(0, np.int64))
    assert X.shape == (0, 4) and y.shape == (0,)
