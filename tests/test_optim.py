"""Optimisers against their formulas computed by hand, clipping, schedules, state round trip, names."""

from __future__ import annotations

import math

import numpy as np
import pytest

from mlp.fused import adam_kernel
from mlp.model import MLP
from mlp.optim import OPTIMIZERS, SCHEDULES, SGD, Adam, AdamW, clip_grad_norm, get_optimizer, learning_rate

LR = 0.1


def _run(optimizer, steps: int = 3, seed: int = 0):
    """Apply `steps` updates with random gradients; returns (final params, start params, gradients)."""
    rng = np.random.default_rng(seed)
    params = rng.standard_normal(6)
    start = params.copy()
    grads = [rng.standard_normal(6) for _ in range(steps)]
    for g in grads:
        kept = g.copy()
        optimizer.step(params, g, LR)
        np.testing.assert_array_equal(g, kept)  # gradients are read, never modified
    return params, start, grads


def test_plain_sgd():
    params, p, grads = _run(SGD(momentum=0.0))
    for g in grads:
        p = p - LR * g
    np.testing.assert_allclose(params, p, rtol=1e-12)


@pytest.mark.parametrize("nesterov", [False, True])
def test_sgd_momentum_and_nesterov(nesterov):
    mu, wd = 0.9, 0.01
    params, p, grads = _run(SGD(momentum=mu, nesterov=nesterov, weight_decay=wd))
    v = np.zeros_like(p)
    for g in grads:
        g = g + wd * p
        v = mu * v + g
        p = p - LR * (g + mu * v if nesterov else v)
    np.testing.assert_allclose(params, p, rtol=1e-12)


@pytest.mark.parametrize("fused", [False, None], ids=["numpy", "default"])
@pytest.mark.parametrize(("cls", "wd"), [(Adam, 0.0), (Adam, 0.05), (AdamW, 0.05)])
def test_adam_family(cls, wd, fused):
    b1, b2, eps = 0.8, 0.9, 1e-3  # a large eps, so its bias-corrected placement is tested too
    params, p, grads = _run(cls(beta1=b1, beta2=b2, eps=eps, weight_decay=wd, fused=fused), steps=4)
    m, v = np.zeros_like(p), np.zeros_like(p)
    for t, g in enumerate(grads, start=1):
        if cls is AdamW:
            p = p - LR * wd * p
        else:
            g = g + wd * p
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        m_hat, v_hat = m / (1 - b1**t), v / (1 - b2**t)
        p = p - LR * m_hat / (np.sqrt(v_hat) + eps)
    np.testing.assert_allclose(params, p, rtol=1e-12)


@pytest.mark.parametrize("fused", [False, None], ids=["numpy", "default"])
@pytest.mark.parametrize(("b1", "b2"), [(0.9, 0.999), (0.0, 0.0)])
def test_adam_over_many_steps_keeps_to_the_formula_and_holds_the_decayed_sums(b1, b2, fused):
    eps = 1e-8
    adam = Adam(beta1=b1, beta2=b2, eps=eps, fused=fused)
    params, p, grads = _run(adam, steps=300)
    m, v, m_sum, v_sum = (np.zeros_like(p) for _ in range(4))
    for t, g in enumerate(grads, start=1):
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        m_sum, v_sum = b1 * m_sum + g, b2 * v_sum + g * g
        p = p - LR * (m / (1 - b1**t)) / (np.sqrt(v / (1 - b2**t)) + eps)
    np.testing.assert_allclose(params, p, rtol=1e-10)
    np.testing.assert_allclose(adam.state["m_sum"], m_sum, rtol=1e-10)
    np.testing.assert_allclose(adam.state["v_sum"], v_sum, rtol=1e-10)


@pytest.mark.skipif(adam_kernel() is None, reason="numba is not installed (the optional 'fast' extra)")
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(("cls", "wd"), [(Adam, 0.0), (Adam, 0.05), (AdamW, 0.05)])
def test_fused_kernel_and_numpy_passes_agree_bitwise(cls, wd, dtype):
    rng = np.random.default_rng(0)
    grads = [(rng.standard_normal(1000) * 10.0**rng.integers(-4, 3)).astype(dtype) for _ in range(30)]
    results = []
    for fused in (True, False):
        adam, params = cls(weight_decay=wd, fused=fused), np.linspace(-1, 1, 1000, dtype=dtype)
        for t, g in enumerate(grads):
            adam.step(params, g, 1e-3 * (1 + t % 3))
        results.append((params, adam.state["m_sum"], adam.state["v_sum"]))
    for fused_array, numpy_array in zip(*results, strict=True):
        np.testing.assert_array_equal(fused_array, numpy_array)


@pytest.mark.skipif(adam_kernel() is None, reason="numba is not installed")
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_the_fused_step_says_whether_every_squared_gradient_was_finite_the_numpy_passes_do_not_look(dtype):
    huge = np.sqrt(np.finfo(dtype).max) * 2  # finite, but its square is not
    for bad, finite in ((None, True), (np.nan, False), (np.inf, False), (-np.inf, False), (-huge, False)):
        grads = np.linspace(-1, 1, 1000, dtype=dtype)
        if bad is not None:
            grads[617] = bad
        params = np.zeros(1000, dtype)
        assert Adam(fused=True).step(params, grads, 1e-3) is finite
        assert AdamW(fused=True).step(params, grads, 1e-3) is finite
        with np.errstate(over="ignore", invalid="ignore"):
            assert Adam(fused=False).step(params, grads, 1e-3) is None
    assert SGD(momentum=0.9).step(params, grads, 1e-3) is None


def test_without_numba_adam_takes_the_numpy_passes_and_fused_true_says_what_is_missing(monkeypatch):
    monkeypatch.setattr("mlp.optim.adam_kernel", lambda: None)
    with pytest.raises(ImportError, match=r"needs numba \(an mlpflow dependency\): pip install numba"):
        Adam(fused=True)
    params, p, grads = _run(Adam(eps=1e-3), steps=2)
    m, v = np.zeros_like(p), np.zeros_like(p)
    for t, g in enumerate(grads, start=1):
        m, v = 0.9 * m + 0.1 * g, 0.999 * v + 0.001 * g * g
        p = p - LR * (m / (1 - 0.9**t)) / (np.sqrt(v / (1 - 0.999**t)) + 1e-3)
    np.testing.assert_allclose(params, p, rtol=1e-12)


def test_adam_refuses_state_saved_as_plain_moments():
    state = {"name": "adam", "t": 1, "hyper": {}, "arrays": {"m": np.zeros(3), "v": np.zeros(3)}}
    with pytest.raises(ValueError, match=r"unexpected adam state arrays \['m', 'v'\]"):
        Adam().load_state_dict(state)


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_every_parameter_is_updated_biases_included(name):
    model = MLP([3, 4, 2], batchnorm=True, dtype="float64")
    before = {k: v.copy() for k, v in model.params().items()}
    model.flat_grads[...] = 1.0
    get_optimizer(name).step(model.flat_params, model.flat_grads, 0.01)
    for k, v in model.params().items():
        assert np.all(v != before[k]), k


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_state_round_trip_continues_identically(name):
    rng = np.random.default_rng(0)
    grads = [rng.standard_normal(5).astype(np.float32) for _ in range(4)]
    a, pa = get_optimizer(name), np.ones(5, np.float32)
    for g in grads[:2]:
        a.step(pa, g, LR)
    b, pb = get_optimizer(name), pa.copy()
    b.load_state_dict(a.state_dict())
    for g in grads[2:]:
        a.step(pa, g, LR)
        b.step(pb, g, LR)
    np.testing.assert_array_equal(pa, pb)
    with pytest.raises(ValueError, match="optimizer state is for"):
        get_optimizer("sgd" if name != "sgd" else "adam").load_state_dict(a.state_dict())


@pytest.mark.parametrize(("saved", "now", "message"), [
    (SGD(momentum=0.9), SGD(momentum=0.5), r"sgd .* momentum \(saved 0.9, now 0.5\)"),
    (Adam(weight_decay=0.1), Adam(), r"adam .* weight_decay \(saved 0.1, now 0.0\)"),
    (AdamW(), AdamW(beta2=0.99, eps=1e-6), r"beta2 \(saved 0.999, now 0.99\), eps \(saved 1e-08, now 1e-06"),
])
def test_state_saved_with_other_hyper_parameters_is_refused(saved, now, message):
    saved.step(np.ones(3), np.ones(3), LR)
    with pytest.raises(ValueError, match=message):
        now.load_state_dict(saved.state_dict())
    assert now.t == 0


def test_step_checks_buffers():
    with pytest.raises(ValueError, match="1-D params and grads"):
        Adam().step(np.zeros((2, 2)), np.zeros((2, 2)), LR)
    with pytest.raises(ValueError, match="one shape and dtype"):
        Adam().step(np.zeros(3, np.float32), np.zeros(3), LR)


def test_unknown_optimizer_and_bad_hyper_parameters():
    with pytest.raises(ValueError, match="unknown optimizer 'rmsprop'; valid: adam, adamw, sgd"):
        get_optimizer("rmsprop")
    with pytest.raises(ValueError, match="nesterov momentum needs momentum > 0"):
        SGD(momentum=0.0, nesterov=True)
    with pytest.raises(ValueError, match=r"beta1 must be a finite number in \[0, 1\), got 1.0"):
        Adam(beta1=1.0)
    with pytest.raises(ValueError, match="eps must be a finite number > 0, got 0"):
        AdamW(eps=0)
    with pytest.raises(ValueError, match=r"momentum must be a finite number in \[0, 1\), got -0.5"):
        SGD(momentum=-0.5)
    with pytest.raises(ValueError, match="weight_decay must be a finite number >= 0, got None"):
        SGD(weight_decay=None)  # None is TrainConfig's "the optimiser's own", not a value an optimiser takes


def test_clip_grad_norm():
    g = np.array([3.0, 4.0])
    assert clip_grad_norm(g, 1.0) == pytest.approx(5.0)
    np.testing.assert_allclose(g, [0.6, 0.8])
    g = np.array([0.3, 0.4])
    assert clip_grad_norm(g, 1.0) == pytest.approx(0.5)
    np.testing.assert_array_equal(g, [0.3, 0.4])


C1, C3 = (1 + math.cos(math.pi / 4)) / 2, (1 + math.cos(3 * math.pi / 4)) / 2  # half-cosine at 1/4 and 3/4


@pytest.mark.parametrize(("schedule", "kwargs", "expected"), [
    ("constant", {}, [1.0, 1.0, 1.0, 1.0]),
    ("step", {"step_size": 2, "gamma": 0.5}, [1.0, 1.0, 0.5, 0.5]),
    ("cosine", {"min_lr": 0.0}, [1.0, C1, 0.5, C3]),
    ("cosine", {"min_lr": 0.2}, [1.0, 0.2 + 0.8 * C1, 0.6, 0.2 + 0.8 * C3]),
])
def test_schedules(schedule, kwargs, expected):
    got = [learning_rate(schedule, 1.0, e, 4, **kwargs) for e in range(4)]
    np.testing.assert_allclose(got, expected, rtol=1e-12)


def test_warmup_ramps_then_starts_the_schedule():
    got = [learning_rate("step", 1.0, e, 6, warmup_epochs=2, step_size=2, gamma=0.1) for e in range(6)]
    np.testing.assert_allclose(got, [1 / 3, 2 / 3, 1.0, 1.0, 0.1, 0.1])
    assert learning_rate("cosine", 1.0, 2, 6, warmup_epochs=2) == 1.0


def test_unknown_schedule_lists_valid_ones():
    with pytest.raises(ValueError, match="unknown schedule 'cyclic'") as info:
        learning_rate("cyclic", 1.0, 0, 1)
    assert all(name in str(info.value) for name in SCHEDULES)
