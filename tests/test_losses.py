"""Losses: hand-computed values, finite-difference gradients, stability at ±1e4, target checks, names."""

from __future__ import annotations

import math

import numpy as np
import pytest

from mlp.gradcheck import numerical_gradient, relative_error
from mlp.losses import LOSSES, MSE, CrossEntropy, get_loss, softmax


def test_mse_by_hand():
    y_hat, y = np.array([[1.0, 2.0], [3.0, 4.0]]), np.array([[1.0, 0.0], [0.0, 4.0]])
    loss, grad = MSE().value_and_grad(y_hat, y)
    assert loss == pytest.approx(0.5 * (0 + 4 + 9 + 0) / 4)
    np.testing.assert_allclose(grad, [[0.0, 0.5], [0.75, 0.0]])
    assert MSE()(y_hat, y) == loss


def test_cross_entropy_by_hand():
    logits = np.array([[0.0, math.log(3.0)], [5.0, 5.0]])  # softmax rows: [1/4, 3/4] and [1/2, 1/2]
    y = np.array([1, 0])
    loss, grad = CrossEntropy().value_and_grad(logits, y)
    assert loss == pytest.approx((-math.log(0.75) - math.log(0.5)) / 2)
    np.testing.assert_allclose(grad, [[0.25 / 2, -0.25 / 2], [-0.5 / 2, 0.5 / 2]])


def test_label_smoothing_by_hand():
    logits, y, eps = np.array([[0.0, math.log(3.0)]]), np.array([1]), 0.2
    target = np.array([[0.1, 0.9]])  # (1 − ε)·one_hot + ε/k
    loss, grad = CrossEntropy(eps).value_and_grad(logits, y)
    assert loss == pytest.approx(-(0.1 * math.log(0.25) + 0.9 * math.log(0.75)))
    np.testing.assert_allclose(grad, [[0.25, 0.75]] - target)


@pytest.mark.parametrize("loss", [MSE(), CrossEntropy(), CrossEntropy(label_smoothing=0.1)], ids=repr)
def test_gradient_matches_finite_differences(loss):
    rng = np.random.default_rng(0)
    y_hat = rng.standard_normal((5, 4)) * 3
    y = rng.integers(0, 4, 5) if loss.classification else rng.standard_normal((5, 4))
    _, analytic = loss.value_and_grad(y_hat.copy(), y)
    numeric = numerical_gradient(lambda: loss(y_hat, y), y_hat)
    assert relative_error(analytic, numeric) < 1e-6


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_cross_entropy_is_finite_at_extreme_logits(dtype):
    logits = np.array([[1e4, -1e4, 0.0], [-1e4, 1e4, 1e4]], dtype=dtype)
    y = np.array([1, 0])  # both wrong by a margin of 2e4
    with np.errstate(over="raise", divide="raise", invalid="raise"):  # underflow to 0 is expected
        loss, grad = CrossEntropy().value_and_grad(logits, y)
    assert loss == pytest.approx((2e4 + (2e4 + math.log(2))) / 2, rel=1e-6)
    np.testing.assert_allclose(grad, np.array([[1, -1, 0], [-1, 0.5, 0.5]]) / 2, atol=1e-7)


def test_softmax_is_stable():
    logits = np.array([[1e4, 0.0, -1e4], [1.0, 2.0, 3.0]])
    with np.errstate(over="raise", divide="raise", invalid="raise"):  # underflow to 0 is expected
        p = softmax(logits)
    np.testing.assert_allclose(p.sum(axis=1), 1.0)
    np.testing.assert_allclose(p[1], np.exp([1.0, 2.0, 3.0]) / np.exp([1.0, 2.0, 3.0]).sum())


def test_cross_entropy_checks_labels():
    logits = np.zeros((2, 3))
    with pytest.raises(ValueError, match=r"shape \(2,\)"):
        CrossEntropy()(logits, np.array([0, 1, 2]))
    with pytest.raises(ValueError, match=r"shape \(2,\)"):
        CrossEntropy()(logits, np.array([0.0, 1.0]))
    with pytest.raises(ValueError, match=r"\[0, 3\).*max 3"):
        CrossEntropy()(logits, np.array([0, 3]))


@pytest.mark.parametrize(("y", "message"), [
    (np.array([0, -1]), r"label -1 is outside the valid range \[0, 3\)"),  # would mean the last class
    (np.array([3, 0]), r"label 3 is outside the valid range \[0, 3\)"),  # would be an IndexError
    (np.array([0.0, 1.0]), r"integer class labels of shape \(2,\), got float64"),
    (np.array([[0], [1]]), r"integer class labels of shape \(2,\), got int64 \(2, 1\)"),
])
def test_value_and_grad_checks_labels(y, message):
    with pytest.raises(ValueError, match=message):
        CrossEntropy().value_and_grad(np.zeros((2, 3)), y)


def test_mse_checks_target_shape():
    with pytest.raises(ValueError, match=r"shape \(2, 1\).*got \(2,\)"):
        MSE()(np.zeros((2, 1)), np.zeros(2))


def test_names_and_label_smoothing_arguments():
    assert isinstance(get_loss("mse"), MSE)
    assert get_loss("cross_entropy", 0.1).label_smoothing == 0.1
    with pytest.raises(ValueError, match="unknown loss 'hinge'") as info:
        get_loss("hinge")
    assert all(name in str(info.value) for name in LOSSES)
    with pytest.raises(ValueError, match="cross_entropy only"):
        get_loss("mse", label_smoothing=0.1)
    with pytest.raises(ValueError, match=r"label_smoothing must be a finite number in \[0, 1\), got 1.0"):
        CrossEntropy(1.0)


@pytest.mark.parametrize("loss", [CrossEntropy(), CrossEntropy(0.1), MSE()], ids=repr)
def test_value_and_grad_without_the_check_gives_bitwise_the_same(loss):
    rng = np.random.default_rng(4)
    logits = rng.standard_normal((5, 3)).astype(np.float32)
    y = rng.integers(0, 3, 5) if loss.classification else rng.standard_normal((5, 3)).astype(np.float32)
    kept = logits.copy()
    value, grad = loss.value_and_grad(logits, y)
    unchecked_value, unchecked_grad = loss.value_and_grad(logits, y, check=False)
    assert value == unchecked_value
    np.testing.assert_array_equal(grad, unchecked_grad)
    np.testing.assert_array_equal(logits, kept)  # the logits are read, never modified
