"""The sine regression demo: the seed design's setting reaches training MSE below 1e-3."""

from __future__ import annotations

import numpy as np
import pytest

from mlp import MLP
from mlp.demos import fit_sine, mean_squared_error, sine_data


def test_sine_data():
    x, y = sine_data(64)
    assert x.shape == y.shape == (64, 1) and x.dtype == y.dtype == np.float32
    assert x[0, 0] == 0.0 and x[-1, 0] == 1.0
    np.testing.assert_allclose(y, np.sin(2 * np.pi * x), atol=1e-6)
    with pytest.raises(ValueError, match="at least 2"):
        sine_data(1)


def test_fit_sine_reaches_the_target():
    # The setting ([1, 100, 100, 1], MSE, Adam 3e-4, full batch of 64) with 4,000 of the demo's
    # 10,000 iterations: enough to pass the 1e-3 target, short enough for the suite.
    model, history, x, y = fit_sine(iterations=4000)
    assert model.config["layer_sizes"] == [1, 100, 100, 1]
    assert len(history) == 4000 and history.monitor == "train_loss"
    mse = mean_squared_error(model, x, y)
    assert mse < 1e-3
    assert history.records[0].train_loss > 100 * mse


def test_mean_squared_error_by_hand():
    model = MLP([1, 1])  # one weight w and a zero bias: the output is w·x
    w = float(model.params()["fc0.W"][0, 0])
    x, y = np.array([[1.0], [2.0]], np.float32), np.array([[0.0], [1.0]], np.float32)
    assert mean_squared_error(model, x, y) == pytest.approx((w**2 + (2 * w - 1) ** 2) / 2, rel=1e-6)
