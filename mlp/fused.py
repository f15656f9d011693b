"""Fused kernel: Adam's element-wise update in one pass over the arrays, compiled by numba.

numba is a regular dependency, imported on the first Adam step, never by `import mlp`; the environment
variable MLPFLOW_FUSED=0 leaves it unused, and where numba is missing Adam takes its NumPy passes. The kernel
does the same float operations in the same order as `Adam.step`'s NumPy passes (no fast-math, no fused
multiply-add), so both give bitwise the same parameters; it saves the memory traffic of ten separate passes,
and, in the same loop, tells whether every gradient was finite: the Trainer's divergence check, otherwise a
pass of its own over the gradients. It releases the GIL, so that networks trained side by side in threads
update at the same time. Compiled code is cached on disk (numba's `cache=True`): a process's first Adam step
loads it in about half a second.

Splitting the loop between threads (numba's `prange` or a thread of our own, bitwise the same) was measured
and left out: after every matrix product OpenBLAS's worker thread keeps spinning on the other core, waiting
for the next product, and a thread of ours waits for that core (README, "Training speed").
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


@functools.cache
def adam_kernel() -> Callable | None:
    """The compiled `_adam_update(params, grads, m_sum, v_sum, beta1, beta2, step, eps) -> all g² finite`, or
    None without numba or with MLPFLOW_FUSED=0. The arrays are 1-D and of one dtype, the scalars of that
    dtype; params, m_sum and v_sum are updated in place. It runs without holding the GIL."""
    if os.environ.get("MLPFLOW_FUSED", "1") == "0":
        return None
    try:
        import numba
    except ImportError:
        return None
    return numba.njit(cache=True, boundscheck=False, error_model="numpy", nogil=True)(_adam_update)
