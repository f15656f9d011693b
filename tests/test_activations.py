"""Activations: finite differences, values by hand, name lookup, and inference leaving caches alone."""

from __future__ import annotations

import math

import numpy as np
import pytest

from mlp.activations import ACTIVATIONS, get_activation
from mlp.gradcheck import numerical_gradient, relative_error


def _input(rng: np.random.Generator) -> np.ndarray:
    x = rng.standard_normal((4, 6)) * 2
    x[np.abs(x) < 1e-3] = 0.5  # keep clear of ReLU's kink, where finite differences are meaningless
    return x


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_backward_matches_finite_differences(name):
    rng = np.random.default_rng(1)
    layer = get_activation(name)
    x = _input(rng)
    weights = rng.standard_normal(x.shape)  # loss = Σ weights · f(x), so d loss / d f(x) = weights
    layer.forward(x, train=True)
    analytic = layer.backward(weights)
    numeric = numerical_gradient(lambda: float(np.sum(weights * layer.forward(x))), x)
    assert relative_error(analytic, numeric) < 1e-6


@pytest.mark.parametrize(
    ("name", "x", "expected"),
    [
        ("relu", [-2.0, 0.0, 3.0], [0.0, 0.0, 3.0]),
        ("leaky_relu", [-2.0, 0.0, 3.0], [-0.02, 0.0, 3.0]),
        ("tanh", [0.0, 1.0], [0.0, math.tanh(1.0)]),
        ("sigmoid", [0.0, math.log(3.0)], [0.5, 0.75]),
        # tanh approximation: 0.5·1·(1 + tanh(√(2/π)·1.044715))
        ("gelu", [0.0, 1.0], [0.0, 0.5 * (1 + math.tanh(math.sqrt(2 / math.pi) * 1.044715))]),
    ],
)
def test_values_by_hand(name, x, expected):
    out = get_activation(name).forward(np.array([x]))
    np.testing.assert_allclose(out[0], expected, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_extreme_inputs_stay_finite(name):
    layer = get_activation(name)
    x = np.array([[-1e4, 1e4]], dtype=np.float32)
    with np.errstate(all="raise"):
        out = layer.forward(x, train=True)
        grad = layer.backward(np.ones_like(x))
    assert np.isfinite(out).all() and np.isfinite(grad).all()
    assert out.dtype == np.float32


def test_unknown_name_lists_valid_ones():
    with pytest.raises(ValueError, match="unknown activation 'swish'") as info:
        get_activation("swish")
    for name in ACTIVATIONS:
        assert name in str(info.value)


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_inference_does_not_touch_the_training_cache(name):
    rng = np.random.default_rng(2)
    layer = get_activation(name)
    x_train, grad = _input(rng), rng.standard_normal((4, 6))
    layer.forward(x_train, train=True)
    expected = layer.backward(grad)
    layer.forward(_input(rng) * 3, train=False)
    np.testing.assert_array_equal(layer.backward(grad), expected)


def test_backward_before_forward_is_an_error():
    with pytest.raises(RuntimeError, match="before forward"):
        get_activation("relu").backward(np.ones((1, 1)))


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_inplace_gives_bitwise_the_same_values_and_only_then_overwrites(name, dtype):
    rng = np.random.default_rng(3)
    x, grad = _input(rng).astype(dtype), rng.standard_normal((4, 6)).astype(dtype)
    x[0, :3] = -0.0, 0.0, -2.0  # both zeros and a negative: the mask's multiply keeps each sign as before
    grad[0, 3:] = -1.0
    results = []
    for inplace in (False, True):
        layer, x_in, grad_in = get_activation(name), x.copy(), grad.copy()
        layer.inplace = inplace
        out = layer.forward(x_in, train=True)
        back = layer.backward(grad_in)
        results.append((out.copy(), back.copy()))
        if not inplace:  # the arguments untouched
            np.testing.assert_array_equal(x_in, x)
            np.testing.assert_array_equal(grad_in, grad)
    for a, b in zip(*results, strict=True):
        assert a.dtype == b.dtype == dtype
        np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(np.signbit(a), np.signbit(b))
