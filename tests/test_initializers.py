"""Initialisers: the documented distributions, seeded, looked up by name."""

from __future__ import annotations

import numpy as np
import pytest

from mlp.initializers import INITIALIZERS, init_weights


def test_he_has_std_sqrt_2_over_fan_in():
    w = init_weights("he", np.random.default_rng(0), (400, 300))
    assert w.shape == (400, 300)
    assert abs(w.mean()) < 0.003
    assert w.std() == pytest.approx(np.sqrt(2 / 400), rel=0.01)


def test_xavier_is_uniform_within_the_glorot_limit():
    w = init_weights("xavier", np.random.default_rng(0), (400, 200))
    limit = np.sqrt(6 / 600)
    assert np.abs(w).max() <= limit
    assert np.abs(w).max() > 0.99 * limit
    assert w.std() == pytest.approx(limit / np.sqrt(3), rel=0.01)


def test_normal_uses_the_given_scale():
    w = init_weights("normal", np.random.default_rng(0), (300, 300), scale=0.01)
    assert w.std() == pytest.approx(0.01, rel=0.01)


def test_same_seed_same_weights():
    a = init_weights("he", np.random.default_rng(5), (3, 4))
    b = init_weights("he", np.random.default_rng(5), (3, 4))
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, init_weights("he", np.random.default_rng(6), (3, 4)))


def test_unknown_initializer_lists_valid_ones():
    with pytest.raises(ValueError, match="unknown initializer 'orthogonal'") as info:
        init_weights("orthogonal", np.random.default_rng(0), (2, 2))
    assert all(name in str(info.value) for name in INITIALIZERS)
