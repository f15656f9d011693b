"""The data stages and the training source in stream mode (`flows.pipeline.streaming`), as plain functions on
a real Parquet data set rewritten in small row groups: the normalisers fitted a row group at a time equal the
in-memory fit, the shuffle stage's training file holds every training row exactly once, each network's stream
holds at most its share of the budget's rows, and the default budget keeps small data in memory."""

from __future__ import annotations

import json

import numpy as np
import pyarrow.parquet as pq
import pytest

from flows.pipeline.preparation import (
    augment_training_set,
    fit_normalization,
    shuffle_training_set,
    split_data,
)
from flows.pipeline.streaming import TrainingData, n_training_rows, network_source, plan_training_data
from mlp.data import files
from mlp.data.stream import budget_rows, choose, read_rows, row_group_parts

# 27 training rows of 6x8 pixels: 0.012 MB fits 20 rows in memory, 10 for each of the two networks' streams.
STREAM = {"data_source": "stream", "memory_budget_mb": 0.012, "batch_size": 4}


def small_row_groups(layout, rows: int = 7) -> None:
    """Rewrite the run's data set in row groups of `rows` rows (same rows, same metadata)."""
    table = pq.read_table(layout.dataset)
    pq.write_table(table, layout.dataset, row_group_size=rows)
    assert pq.ParquetFile(layout.dataset).metadata.num_row_groups > 3


@pytest.fixture
def streamed(run):
    params, _, layout, _ = run
    small_row_groups(layout)
    split_data.fn(layout, params.val_fraction, params.seed)
    params = params.model_copy(update=STREAM)
    return params, layout, plan_training_data(layout, params)


def training_rows(layout) -> tuple[np.ndarray, np.ndarray]:
    ds = files.read_dataset(layout.dataset)
    train = np.sort(files.load_arrays(layout.split)["train"])
    return ds.X[train], ds.y[train]


def streamed_rows(layout) -> tuple[np.ndarray, np.ndarray]:
    parts = list(row_group_parts(layout.train_stream))
    return np.concatenate([X for X, _ in parts]), np.concatenate([y for _, y in parts])


def as_set(X: np.ndarray, y: np.ndarray) -> list[tuple]:
    return sorted((bytes(row), int(label)) for row, label in zip(X, y, strict=True))


def test_the_plan_streams_within_the_budget_and_the_default_keeps_small_data_in_memory(run, streamed):
    params, layout, plan = streamed
    assert plan == TrainingData("stream", 27, 48, budget_rows=20, buffer_rows=10, row_group_rows=3)
    assert plan.buffer_rows * len(params.members) <= budget_rows(params.memory_budget_mb, 48)
    assert plan_training_data(layout, params.model_copy(update={"data_source": "auto"})) == plan  # above it
    default = plan_training_data(layout, run[0])  # auto at 2048 MB
    assert default == TrainingData("memory", 27, 48) and not default.streamed
    # hanzi12: ~6,048 training images of 28x28, five copies each with --augment shift, stay in memory too
    assert choose("auto", 2048.0, 5 * 6048, 28 * 28) == "memory"


def test_shift_and_a_budget_too_small_to_stream_are_refused_in_one_line(streamed):
    params, layout, _ = streamed
    with pytest.raises(ValueError, match=r"^--augment shift cannot stream \(--data-source stream\): .* use "
                                         r"--augment distort"):
        plan_training_data(layout, params.model_copy(update={"augment": "shift"}))
    auto = params.model_copy(update={"augment": "shift", "data_source": "auto"})
    with pytest.raises(ValueError, match=r"--data-source auto, as auto does above --memory-budget-mb 0.012"):
        plan_training_data(layout, auto)
    tiny = params.model_copy(update={"memory_budget_mb": 0.005})
    with pytest.raises(ValueError, match=r"^--memory-budget-mb 0.005 leaves each of the 2 network\(s\) a "
                                         r"stream of 4 rows, too few for a batch of 4 beside two row groups: "
                                         r"give at least 0.01, or a smaller --batch-size$"):
        plan_training_data(layout, tiny)


@pytest.mark.parametrize("mode", ["per_pixel", "global", "unit"])
def test_normalisers_fitted_a_row_group_at_a_time_equal_the_in_memory_fit(streamed, mode):
    _, layout, plan = streamed
    views = ("raw", "framed")
    streamed_fit = json.loads(fit_normalization.fn(layout, mode, views, plan).read_text())
    memory_fit = json.loads(fit_normalization.fn(layout, mode, views).read_text())
    assert streamed_fit.keys() == memory_fit.keys() == set(views)
    for view in views:
        for key in ("mean", "std"):
            np.testing.assert_allclose(streamed_fit[view][key], memory_fit[view][key], rtol=1e-6, atol=1e-6)


def test_the_shuffled_training_file_holds_every_training_row_exactly_once(streamed):
    params, layout, plan = streamed
    assert augment_training_set.fn(layout, "distort", plan) == layout.train_stream
    assert not layout.train_data.exists()  # nothing held: the shuffle stage writes the training file
    assert shuffle_training_set.fn(layout, True, params.seed, plan) == layout.train_stream
    X, y = streamed_rows(layout)
    X_train, y_train = training_rows(layout)
    assert as_set(X, y) == as_set(X_train, y_train) and len(y) == 27 == n_training_rows(layout)
    assert not np.array_equal(X, X_train)  # another order than the data set's
    meta = pq.ParquetFile(layout.train_stream).metadata
    assert max(meta.row_group(g).num_rows for g in range(meta.num_row_groups)) <= plan.row_group_rows
    assert not list(layout.train_stream.parent.glob(".buckets-*"))  # spill files gone

    (layout.train_stream.parent / ".buckets-killed").mkdir()  # a killed attempt's spill folder
    written = layout.train_stream.stat().st_mtime_ns
    shuffle_training_set.fn(layout, True, params.seed, plan)  # a resumed run writes the same file again
    assert layout.train_stream.stat().st_mtime_ns == written  # left as it was: the stream's fingerprint holds
    assert not list(layout.train_stream.parent.glob(".buckets-*"))  # the killed attempt's spill folder went
    assert np.array_equal(streamed_rows(layout)[0], X)
    shuffle_training_set.fn(layout, True, params.seed + 1, plan)
    assert not np.array_equal(streamed_rows(layout)[0], X)

    shuffle_training_set.fn(layout, False, params.seed, plan)  # unshuffled: the data set's (class) order
    X, y = streamed_rows(layout)
    assert np.array_equal(X, X_train) and np.array_equal(y, y_train)


def test_each_network_streams_every_row_once_an_epoch_within_its_share_of_the_budget(streamed):
    params, layout, plan = streamed
    shuffle_training_set.fn(layout, True, params.seed, plan)
    source = network_source(layout, plan, lambda X, rng: X)
    seen = [(X, y) for X, y in source.batches(params.batch_size, np.random.default_rng(0), True)]
    X = np.concatenate([X for X, _ in seen])
    y = np.concatenate([y for _, y in seen])
    assert as_set(X, y) == as_set(*training_rows(layout))
    assert 0 < source.peak_rows <= plan.buffer_rows < plan.n_rows
    assert source.peak_rows * len(params.members) <= budget_rows(params.memory_budget_mb, plan.n_features)


def test_the_stages_after_the_split_read_the_data_set_without_its_pixels(run):
    _, _, layout, _ = run
    whole, index = files.read_dataset(layout.dataset), files.read_index(layout.dataset)
    assert len(index) == len(whole) == 30
    for name in ("y", "split", "paths", "hashes"):
        assert np.array_equal(getattr(index, name), getattr(whole, name)), name
    for name in ("class_names", "display_names", "image_shape", "source_root"):
        assert getattr(index, name) == getattr(whole, name), name
    rows = np.array([29, 0, 7, 7])
    X, y = read_rows(layout.dataset, rows)
    assert np.array_equal(X, whole.X[rows]) and np.array_equal(y, whole.y[rows])
