"""mlp.epoch_inputs: each epoch's inputs from its own seeded draw, made one epoch ahead or on demand."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from mlp.epoch_inputs import EpochInputs, epoch_rng


def _noise(X, rng):
    return X + rng.standard_normal(X.shape)


def test_without_augment_every_epoch_is_the_training_set_itself():
    X = np.arange(6.0).reshape(3, 2)
    inputs = EpochInputs(X, None, seed=0, last_epoch=3, check=np.asarray)
    assert all(inputs(e) is X for e in (1, 2, 3))
    inputs.close()


def test_prefetched_inputs_equal_those_made_on_demand_in_any_order():
    X = np.zeros((4, 3))
    ahead = EpochInputs(X, _noise, seed=7, last_epoch=5, check=np.asarray)
    on_demand = EpochInputs(X, _noise, seed=7, last_epoch=5, check=np.asarray, prefetch=False)
    try:
        for epoch in (1, 2, 3, 5, 4):  # a jump (as after a resume) is made on demand
            expected = X + epoch_rng(7, epoch).standard_normal(X.shape)
            np.testing.assert_array_equal(ahead(epoch), expected)
            np.testing.assert_array_equal(on_demand(epoch), expected)
        assert not np.array_equal(ahead(1), X + epoch_rng(8, 1).standard_normal(X.shape))  # seeded
    finally:
        ahead.close()
        on_demand.close()


def test_the_next_epoch_is_made_in_a_background_thread_and_close_ends_it():
    threads = []

    def recording(X, rng):
        threads.append(threading.current_thread().name)
        return X

    inputs = EpochInputs(np.zeros((2, 2)), recording, seed=0, last_epoch=3, check=np.asarray)
    inputs(1)
    inputs(2)
    inputs(3)
    inputs.close()
    assert threads[0] == threading.main_thread().name
    assert all(name.startswith("mlp-augment") for name in threads[1:]) and len(threads) == 3
    assert not any(t.name.startswith("mlp-augment") for t in threading.enumerate())


def test_an_augment_that_changes_the_number_of_rows_is_refused():
    inputs = EpochInputs(np.zeros((4, 2)), lambda X, rng: X[:3], seed=0, last_epoch=1, check=np.asarray)
    with pytest.raises(ValueError, match="augment returned 3 rows for 4 training rows"):
        inputs(1)
    inputs.close()
