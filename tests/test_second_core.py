"""benchmarks/second_core.py on tiny work: its split products and threaded Adam compute what one call does."""

from __future__ import annotations

import numpy as np
import pytest

from benchmarks.second_core import busy_ratio, parallel_kernels, product_row
from mlp.fused import adam_kernel

pytestmark = pytest.mark.skipif(adam_kernel() is None, reason="numba is not installed (or MLPFLOW_FUSED=0)")


def test_the_halves_and_the_threaded_adam_give_bitwise_what_one_call_gives():
    adam, rows, weight_grad = parallel_kernels()
    rng, f32 = np.random.default_rng(0), np.float32
    x, w, g = rng.random((9, 7), f32), rng.random((7, 5), f32), rng.random((9, 5), f32)
    y, dw = np.empty((9, 5), f32), np.empty((7, 5), f32)
    rows(x, w, y)
    weight_grad(x, g, dw)
    np.testing.assert_array_equal(y, x @ w)
    np.testing.assert_array_equal(dw, x.T @ g)
    # a product this small runs on one OpenBLAS thread even where two are allowed: both cells say yes
    assert product_row("p", lambda: np.matmul(x, w, out=y), lambda: rows(x, w, y), y, repeat=1).endswith(
        "| yes | yes |")

    params, grads = rng.standard_normal((2, 1001)).astype(f32)
    state = [params, grads, rng.random(1001, f32), rng.random(1001, f32)]  # the sums of g and g² are ≥ 0
    copies = [a.copy() for a in state]
    scalars = (f32(0.9), f32(0.999), f32(1e-3), f32(1e-8))
    adam_kernel()(*state, *scalars)
    adam(*copies, *scalars)
    for serial, threaded in zip(state, copies, strict=True):
        np.testing.assert_array_equal(serial, threaded)


def test_the_busy_ratio_counts_the_main_threads_own_time_and_not_its_sleep():
    rng = np.random.default_rng(0)
    a, w = rng.random((4, 4)), rng.random((4, 4))  # too small for OpenBLAS's threads: no worker spins
    busy, asleep = busy_ratio(1e-2, a, w), busy_ratio(1e-2, a, w, sleep=True)
    assert asleep < 0.2 < 0.5 < busy <= 1.1
