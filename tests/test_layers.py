"""Linear, Dropout, BatchNorm1d: finite-difference gradients, hand-computed statistics, shapes and modes."""

from __future__ import annotations

import numpy as np
import pytest

from mlp.gradcheck import numerical_gradient, relative_error
from mlp.layers import BatchNorm1d, Dropout, Linear


def _check_layer_gradients(layer, x: np.ndarray, rng: np.random.Generator, before_forward=lambda: None):
    """Compare backward's input and parameter gradients with central differences of Σ w·forward(x)."""
    before_forward()
    out = layer.forward(x, train=True)
    weights = rng.standard_normal(out.shape)

    def loss() -> float:
        before_forward()
        return float(np.sum(weights * layer.forward(x, train=True)))

    before_forward()
    layer.forward(x, train=True)
    analytic_x = layer.backward(weights)
    analytic = {k: g.copy() for k, g in layer.grads.items()}
    assert relative_error(analytic_x, numerical_gradient(loss, x)) < 1e-6
    for name, param in layer.params.items():
        assert relative_error(analytic[name], numerical_gradient(loss, param)) < 1e-6, name


@pytest.mark.parametrize("n", [1, 5])
def test_linear_gradients(n):
    rng = np.random.default_rng(0)
    layer = Linear(4, 3, dtype=np.float64)
    layer.params["W"][...] = rng.standard_normal((4, 3))
    layer.params["b"][...] = rng.standard_normal(3)
    _check_layer_gradients(layer, rng.standard_normal((n, 4)), rng)


def test_linear_by_hand():
    layer = Linear(2, 2, dtype=np.float64)
    layer.params["W"][...] = [[1.0, 2.0], [3.0, 4.0]]
    layer.params["b"][...] = [0.5, -0.5]
    x = np.array([[1.0, 1.0], [2.0, 0.0]])
    np.testing.assert_array_equal(layer.forward(x, train=True), [[4.5, 5.5], [2.5, 3.5]])
    grad_in = layer.backward(np.array([[1.0, 0.0], [0.0, 1.0]]))
    np.testing.assert_array_equal(grad_in, [[1.0, 3.0], [2.0, 4.0]])
    np.testing.assert_array_equal(layer.grads["W"], [[1.0, 2.0], [1.0, 0.0]])
    np.testing.assert_array_equal(layer.grads["b"], [1.0, 1.0])


def test_linear_writes_gradients_in_place_and_can_skip_the_input_gradient():
    layer = Linear(3, 2)
    gW, gb = layer.grads["W"], layer.grads["b"]
    layer.forward(np.ones((4, 3), np.float32), train=True)
    assert layer.backward(np.ones((4, 2), np.float32), need_input_grad=False) is None
    assert layer.grads["W"] is gW and layer.grads["b"] is gb
    np.testing.assert_array_equal(gW, np.full((3, 2), 4.0))


def test_linear_rejects_wrong_input_shape():
    with pytest.raises(ValueError, match=r"expects input of shape \(n, 4\), got \(2, 5\)"):
        Linear(4, 3).forward(np.zeros((2, 5)))
    with pytest.raises(ValueError, match=r"\(n, 4\), got \(4,\)"):
        Linear(4, 3).forward(np.zeros(4))


def test_dropout_gradient_with_a_fixed_mask():
    rng = np.random.default_rng(0)
    layer = Dropout(0.4, rng=np.random.default_rng(7))

    def same_mask():
        layer.rng = np.random.default_rng(7)

    _check_layer_gradients(layer, rng.standard_normal((6, 5)), rng, before_forward=same_mask)


def test_dropout_preserves_the_expectation_and_scales_kept_units():
    p = 0.3
    layer = Dropout(p, rng=np.random.default_rng(0))
    x = np.linspace(0.5, 2.0, 8).reshape(1, 8).repeat(20_000, axis=0)
    out = layer.forward(x, train=True)
    kept = out != 0
    np.testing.assert_allclose(out[kept], (x / (1 - p))[kept])
    assert abs(1 - kept.mean() - p) < 0.01
    np.testing.assert_allclose(out.mean(axis=0), x[0], rtol=0.03)


def test_dropout_is_the_identity_at_inference_and_keeps_its_mask():
    layer = Dropout(0.5, rng=np.random.default_rng(0))
    x = np.ones((3, 4))
    layer.forward(x, train=True)
    mask = layer._cache.copy()
    np.testing.assert_array_equal(layer.forward(x * 5, train=False), x * 5)
    np.testing.assert_array_equal(layer.backward(np.ones((3, 4))), mask)


@pytest.mark.parametrize("p", [-0.1, 1.0, 1.5])
def test_dropout_rejects_bad_probabilities(p):
    with pytest.raises(ValueError, match=rf"dropout must be a finite number in \[0, 1\), got {p}"):
        Dropout(p, rng=np.random.default_rng(0))


def test_batchnorm_gradients():
    rng = np.random.default_rng(0)
    layer = BatchNorm1d(4, dtype=np.float64)
    layer.params["gamma"][...] = rng.uniform(0.5, 2.0, 4)
    layer.params["beta"][...] = rng.standard_normal(4)
    _check_layer_gradients(layer, rng.standard_normal((7, 4)) * 3 + 1, rng)


def test_batchnorm_statistics_by_hand():
    layer = BatchNorm1d(1, momentum=0.5, eps=0.0, dtype=np.float64)
    x = np.array([[1.0], [3.0]])  # mean 2, biased variance 1, unbiased 2
    np.testing.assert_allclose(layer.forward(x, train=True), [[-1.0], [1.0]])
    np.testing.assert_allclose(layer.buffers["running_mean"], [0.5 * 0 + 0.5 * 2])
    np.testing.assert_allclose(layer.buffers["running_var"], [0.5 * 1 + 0.5 * 2])
    # inference: (x − 1) / √1.5 with the running statistics, and no change to them
    np.testing.assert_allclose(layer.forward(np.array([[2.5]])), [[1.5 / np.sqrt(1.5)]])
    np.testing.assert_allclose(layer.buffers["running_mean"], [1.0])


def test_batchnorm_inference_keeps_the_training_cache():
    rng = np.random.default_rng(3)
    layer = BatchNorm1d(3, dtype=np.float64)
    x, grad = rng.standard_normal((5, 3)), rng.standard_normal((5, 3))
    layer.forward(x, train=True)
    expected = layer.backward(grad)
    layer.forward(rng.standard_normal((9, 3)), train=False)
    np.testing.assert_array_equal(layer.backward(grad), expected)


def test_batchnorm_needs_two_samples_to_train():
    with pytest.raises(ValueError, match="at least 2 samples"):
        BatchNorm1d(3).forward(np.ones((1, 3)), train=True)
    BatchNorm1d(3).forward(np.ones((1, 3)), train=False)  # inference on one sample is fine


def test_batchnorm_rejects_wrong_width():
    with pytest.raises(ValueError, match=r"\(n, 3\), got \(2, 4\)"):
        BatchNorm1d(3).forward(np.ones((2, 4)))
