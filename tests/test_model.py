"""MLP: whole-network finite differences, the flat buffer, config round trip, predictions, shape errors."""

from __future__ import annotations

import re

import numpy as np
import pytest

from mlp.activations import ReLU
from mlp.fused import relu_kernels
from mlp.gradcheck import numerical_gradient, relative_error
from mlp.layers import BatchNorm1d, Dropout, Linear
from mlp.losses import CrossEntropy
from mlp.model import MLP


@pytest.mark.parametrize(
    ("dropout", "batchnorm", "activation"),
    [(0.0, False, "tanh"), (0.3, False, "relu"), (0.0, True, "gelu"), (0.25, True, "sigmoid")],
)
def test_whole_network_gradients_match_finite_differences(dropout, batchnorm, activation):
    model = MLP([5, 7, 6, 3], activation=activation, dropout=dropout, batchnorm=batchnorm, seed=1,
                dtype="float64")
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((8, 5)), rng.integers(0, 3, 8)
    loss = CrossEntropy()
    state = model.rng.bit_generator.state

    def value() -> float:  # the same dropout masks on every evaluation
        model.rng.bit_generator.state = state
        return loss(model.forward(x, train=True), y)

    model.rng.bit_generator.state = state
    _, grad = loss.value_and_grad(model.forward(x, train=True), y)
    grad_x = model.backward(grad)
    analytic = {k: g.copy() for k, g in model.grads().items()}
    for name, param in model.params().items():
        assert relative_error(analytic[name], numerical_gradient(value, param)) < 1e-6, name
    assert relative_error(grad_x, numerical_gradient(value, x)) < 1e-6


def test_architecture_order_and_names():
    model = MLP([4, 8, 8, 2], dropout=0.5, batchnorm=True)
    kinds = [type(layer).__name__ for layer in model.layers]
    assert kinds == ["Linear", "ReLU", "BatchNorm1d", "Dropout"] * 2 + ["Linear"]
    assert list(model.params()) == ["fc0.W", "fc0.b", "bn0.gamma", "bn0.beta", "fc1.W", "fc1.b",
                                    "bn1.gamma", "bn1.beta", "fc2.W", "fc2.b"]
    assert list(model.grads()) == list(model.params())
    assert list(model.buffers()) == ["bn0.running_mean", "bn0.running_var", "bn1.running_mean",
                                     "bn1.running_var"]
    assert model.n_params == (4 * 8 + 8) + 2 * 8 + (8 * 8 + 8) + 2 * 8 + (8 * 2 + 2)


def test_params_and_grads_are_views_into_one_flat_buffer():
    model = MLP([3, 4, 2])
    assert model.flat_params.dtype == np.float32 and model.flat_params.ndim == 1
    for name, p in model.params().items():
        assert np.shares_memory(p, model.flat_params), name
        assert np.shares_memory(model.grads()[name], model.flat_grads), name
    x = np.ones((2, 3), np.float32)
    before = model.forward(x)
    model.flat_params[-2:] += 1.0  # the last two entries are fc1.b
    np.testing.assert_allclose(model.forward(x), before + 1.0)
    model.forward(x, train=True)
    model.backward(np.ones((2, 2), np.float32))
    np.testing.assert_array_equal(model.flat_grads[-2:], [2.0, 2.0])  # d/d b = Σ over the batch


def test_config_rebuilds_the_same_model():
    model = MLP([6, 5, 3], activation="tanh", dropout=0.1, init="normal", init_scale=0.05, seed=3,
                dtype="float64")
    again = MLP(**model.config)
    np.testing.assert_array_equal(model.flat_params, again.flat_params)
    assert again.config == model.config and again.dtype == np.float64
    assert not np.array_equal(model.flat_params, MLP(**{**model.config, "seed": 4}).flat_params)
    w = model.params()["fc0.W"]
    assert w.std() == pytest.approx(0.05, rel=0.5) and np.all(model.params()["fc0.b"] == 0)


def test_predictions():
    model = MLP([2, 3, 3], seed=0)
    x = np.random.default_rng(0).standard_normal((10, 2))
    logits = model.forward(x)
    proba = model.predict_proba(x)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-6)
    np.testing.assert_array_equal(model.predict(x), logits.argmax(axis=1))
    assert model.predict(x).dtype == np.int64 and logits.dtype == np.float32
    assert model.predict(np.zeros((0, 2))).shape == (0,)


def test_inference_changes_no_state():
    model = MLP([4, 6, 2], dropout=0.5, batchnorm=True, seed=0)
    rng = np.random.default_rng(1)
    x, grad = rng.standard_normal((5, 4)), rng.standard_normal((5, 2)).astype(np.float32)
    model.forward(x, train=True)
    rng_state = model.rng.bit_generator.state
    buffers = {k: v.copy() for k, v in model.buffers().items()}
    first = model.forward(x)
    np.testing.assert_array_equal(model.forward(x), first)  # deterministic: no dropout at inference
    model.predict_proba(rng.standard_normal((7, 4)))
    assert model.rng.bit_generator.state == rng_state
    for name, value in model.buffers().items():
        np.testing.assert_array_equal(value, buffers[name])
    grads_a = model.backward(grad)
    model.forward(x, train=True)
    assert not np.array_equal(grads_a, model.backward(grad))  # a new training pass draws a new mask


@pytest.mark.parametrize("bad", [np.zeros((3, 5)), np.zeros(4), np.zeros((2, 4, 1))])
def test_wrong_input_shape_names_the_expected_one(bad):
    model = MLP([4, 3, 2])
    with pytest.raises(ValueError, match=re.escape(f"expects X of shape (n, 4), got {bad.shape}")):
        model.forward(bad)
    with pytest.raises(ValueError, match=r"\(n, 4\)"):
        model.predict(bad)


def test_backward_checks_the_gradient_shape():
    model = MLP([4, 3, 2])
    model.forward(np.zeros((2, 4)), train=True)
    with pytest.raises(ValueError, match=r"gradient of shape \(n, 2\), got \(2, 3\)"):
        model.backward(np.zeros((2, 3)))


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"activation": "swish"}, "activation must be one of relu, leaky_relu, tanh, sigmoid, gelu, got 'swish'"),
    ({"init": "zeros"}, "init must be one of he, xavier, normal, got 'zeros'"),
    ({"dtype": "float16"}, "dtype must be one of float32, float64, got 'float16'"),
    ({"layer_sizes": [4]}, r"layer_sizes must be a sequence of at least 2 integers >= 1, got \[4\]"),
    ({"layer_sizes": [4, 0, 2]}, "at least 2 integers >= 1"),
    ({"layer_sizes": [4, 2.5, 2]}, "at least 2 integers >= 1"),
    ({"dropout": 1.0}, r"dropout must be a finite number in \[0, 1\), got 1.0"),
    ({"init": "normal", "init_scale": 0.0}, "init_scale must be a finite number > 0, got 0.0"),
    ({"seed": -1}, "seed must be an integer >= 0, got -1"),
])
def test_bad_arguments_raise_value_errors(kwargs, message):
    with pytest.raises(ValueError, match=message):
        MLP(**{"layer_sizes": [4, 3, 2], **kwargs})


def test_only_layer_sizes_is_positional():
    with pytest.raises(TypeError, match="positional argument"):
        MLP([4, 3, 2], "relu", 0.0, False, "he", 3)  # would set init_scale=3, not seed=3


def test_load_state_names_both_shapes():
    small, big = MLP([4, 3, 2]), MLP([4, 5, 2])
    before = small.flat_params.copy()
    with pytest.raises(ValueError, match=r"'fc0.W' has shape \(4, 5\) in the other model but \(4, 3\)"):
        small.load_state(big.params(), source="the other model")
    np.testing.assert_array_equal(small.flat_params, before)  # nothing half-loaded
    with pytest.raises(ValueError, match=r"\['bn0.beta', 'bn0.gamma'\] are not in the model"):
        small.load_state(MLP([4, 3, 2], batchnorm=True).params())
    other = MLP([4, 3, 2], seed=9)
    small.load_state(other.params())
    np.testing.assert_array_equal(small.flat_params, other.flat_params)


def test_summary_lists_layers_and_counts():
    text = MLP([784, 500, 12], dropout=0.5).summary()
    assert "Linear(784, 500)" in text and "Dropout(p=0.5)" in text and "392,500" in text
    assert text.splitlines()[-1] == "trainable parameters: 398,512"


def test_layers_are_the_documented_types():
    model = MLP([3, 4, 2], dropout=0.2, batchnorm=True)
    assert isinstance(model.layers[0], Linear) and isinstance(model.layers[2], BatchNorm1d)
    assert isinstance(model.layers[3], Dropout) and model.layers[3].rng is model.rng


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize(("activation", "dropout", "batchnorm"), [
    ("relu", 0.0, False), ("relu", 0.5, False), ("relu", 0.3, True), ("leaky_relu", 0.5, False),
    ("gelu", 0.5, False), ("tanh", 0.5, False), ("sigmoid", 0.5, False), ("tanh", 0.5, True)])
def test_layers_working_in_place_give_bitwise_what_copies_give(activation, dropout, batchnorm, dtype):
    """The MLP lets its activations and dropout overwrite their fresh inputs and gradients; a model whose
    layers make copies instead computes bitwise the same outputs, gradients and input gradient."""
    rng = np.random.default_rng(5)
    x, y = rng.standard_normal((9, 7)), rng.integers(0, 3, 9)
    x[0, :3] = 0.0  # some units exactly at ReLU's kink
    results = []
    for inplace in (True, False):
        model = MLP([7, 6, 5, 3], activation=activation, dropout=dropout, batchnorm=batchnorm, seed=1,
                    dtype=dtype)
        for layer in model.layers:
            layer.inplace = inplace and getattr(layer, "inplace", False)
        out = model.forward(x, train=True).copy()
        _, grad = CrossEntropy().value_and_grad(out, y)
        dx = model.backward(grad)
        results.append((out, dx, model.flat_grads.copy()))
    for a, b in zip(*results, strict=True):
        np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(np.signbit(a), np.signbit(b))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize(("dropout", "batchnorm", "n"), [(0.0, False, 9), (0.5, False, 9), (0.3, True, 9),
                                                        (0.0, False, 1)])
def test_relu_adding_its_linears_bias_gives_bitwise_what_separate_passes_give(dropout, batchnorm, n, dtype,
                                                                              monkeypatch):
    """Each ReLU adds the bias of the Linear before it and fills that bias's gradient (`take_bias`), in
    compiled passes or NumPy's; both give bitwise what a Linear adding and summing its own bias gives."""
    rng = np.random.default_rng(5)
    x, y = rng.standard_normal((n, 7)), rng.integers(0, 3, n)
    x[0, :3] = 0.0
    bias = rng.standard_normal(6)  # a bias that matters (they start at 0)
    results = []
    for way in ("compiled", "numpy", "separate"):
        model = MLP([7, 6, 5, 3], dropout=dropout, batchnorm=batchnorm, seed=1, dtype=dtype)
        model.layers[0].params["b"][:] = bias
        relus = [layer for layer in model.layers if isinstance(layer, ReLU)]
        linears = [layer for layer in model.layers if isinstance(layer, Linear)]
        assert [relu.bias_of for relu in relus] == linears[:2]
        kernels = (lambda: None) if way == "numpy" else relu_kernels
        monkeypatch.setattr("mlp.activations.relu_kernels", kernels)
        if way == "separate":
            for relu in relus:
                relu.bias_of.bias_deferred, relu.bias_of = False, None
        for _ in range(2):  # the second backward overwrites the first's gradients
            out = model.forward(x, train=True).copy()
            _, grad = CrossEntropy().value_and_grad(out, y)
            dx = model.backward(grad)
        results.append((out, dx, model.flat_grads.copy(), model.forward(x)))
    for compiled, numpy_passes, separate in zip(*results, strict=True):
        for a in (numpy_passes, separate):
            np.testing.assert_array_equal(compiled, a)
            np.testing.assert_array_equal(np.signbit(compiled), np.signbit(a))
