"""Fused kernels compiled by numba: each does in one pass over the arrays what NumPy does in several.

- `adam_kernel()`: Adam's element-wise update, which also tells whether every gradient was finite (the
  Trainer's divergence check, otherwise a pass of its own over the gradients);
- `relu_kernels()`: the bias add and ReLU of a hidden layer's forward, and in backward ReLU's mask with the
  bias gradient of the Linear below (`ReLU.take_bias`).

numba is a regular dependency, imported on the first use, never by `import mlp`; the environment variable
MLPFLOW_FUSED=0 leaves it unused, and where numba is missing the callers take their NumPy passes. Each kernel
does the same float operations in the same order as those passes (no fast-math, no fused multiply-add, a
sum started from 0 as NumPy's reductions start), so both give bitwise the same results; they only save the
memory traffic of the separate passes and NumPy's calls. They release the GIL, so that networks trained side
by side in threads run them at the same time. Compiled code is cached on disk (numba's `cache=True`): a
process's first call loads it in about half a second.

Splitting a loop between threads (numba's `prange` or a thread of our own, bitwise the same) was measured
and left out: after every matrix product OpenBLAS's worker thread keeps spinning on the other core, waiting
for the next product, and a thread of ours waits for that core. One pool of threads for the products and
these loops, with OpenBLAS on one thread, was built (branch `one-pool`) and gained nothing in a real fit
(README, "Training speed").
"""

from __future__ import annotations

import functools
import math
import os
from collections.abc import Callable

import numpy as np


def _adam_update(params, grads, m_sum, v_sum, beta1, beta2, step, eps):  # pragma: no cover (compiled)
    """Adam.step's ten NumPy passes as one loop: m_sum·β1 + g, v_sum·β2 + g², p -= m/(√v + eps)·step.

    Returns whether every g² was finite (no gradient NaN, infinite or beyond √max of the dtype): the check
    the Trainer would otherwise make in a pass of its own, here at no measurable cost."""
    finite = True
    for i in range(params.size):
        g = grads[i]
        g2 = g * g
        m = m_sum[i] * beta1 + g
        v = v_sum[i] * beta2 + g2
        m_sum[i] = m
        v_sum[i] = v
        params[i] -= m / (np.sqrt(v) + eps) * step
        finite &= math.isfinite(g2)
    return finite


def _bias_relu(out, bias, zero):  # pragma: no cover (compiled)
    """out = max(out + bias, 0) in place, out (n, d) and bias (d,): NumPy's `out += bias` and
    `np.maximum(out, 0, out=out)` in one pass (NaN stays NaN)."""
    n, d = out.shape
    for i in range(n):
        for j in range(d):
            v = out[i, j] + bias[j]
            out[i, j] = v if v > zero or v != v else zero


def _relu_backward_bias_sum(grad, out, dbias, zero, one):  # pragma: no cover (compiled)
    """grad *= (out > 0) in place and dbias = Σ_rows grad, grad and out (n, d), dbias (d,): NumPy's
    `np.multiply(grad, out > 0, out=grad)` and `np.add.reduce(grad, axis=0, out=dbias)` in one pass."""
    n, d = grad.shape
    for j in range(d):
        dbias[j] = zero
    for i in range(n):
        for j in range(d):
            g = grad[i, j] * (one if out[i, j] > zero else zero)
            grad[i, j] = g
            dbias[j] += g


@functools.cache
def _compiled(fn: Callable) -> Callable | None:
    """`fn` compiled by numba (nogil, cached on disk), or None without numba or with MLPFLOW_FUSED=0."""
    if os.environ.get("MLPFLOW_FUSED", "1") == "0":
        return None
    try:
        import numba
    except ImportError:
        return None
    return numba.njit(cache=True, boundscheck=False, error_model="numpy", nogil=True)(fn)


def adam_kernel() -> Callable | None:
    """The compiled `_adam_update(params, grads, m_sum, v_sum, beta1, beta2, step, eps) -> all g² finite`, or
    None without numba or with MLPFLOW_FUSED=0. The arrays are 1-D and of one dtype, the scalars of that
    dtype; params, m_sum and v_sum are updated in place."""
    return _compiled(_adam_update)


def relu_kernels() -> tuple[Callable, Callable] | None:
    """The compiled `_bias_relu(out, bias, zero)` and `_relu_backward_bias_sum(grad, out, dbias, zero, one)`,
    or None without numba or with MLPFLOW_FUSED=0. Arrays of one dtype; zero and one of that dtype."""
    forward = _compiled(_bias_relu)
    return None if forward is None else (forward, _compiled(_relu_backward_bias_sum))
