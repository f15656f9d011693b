"""Fused kernel: Adam's element-wise update in one pass over the arrays, compiled by numba.

numba is imported on the first Adam step, never by `import mlp`; the environment variable MLPFLOW_FUSED=0
leaves it unused, and without numba Adam takes its NumPy passes. The kernel does the same float operations
in the same order as `Adam.step`'s NumPy passes (no fast-math, no fused multiply-add), so both give bitwise
the same parameters; it only saves the memory traffic of ten separate passes. Every element is updated on its
own, so the parallel kernel (the loop split between numba's threads) gives bitwise the same result too.

The kernels release the GIL (networks trained side by side in threads update at the same time). The
parallel one runs only for large buffers in the main thread of a process that has not forked since numba
started its threads: numba's default thread pools allow one caller at a time, and GNU OpenMP's does not
survive a fork. Compiled code is cached on disk (numba's `cache=True`): a process's first Adam step loads
it in about half a second.
"""

from __future__ import annotations

import functools
import os
import threading
from collections.abc import Callable

import numpy as np

# Below this many elements, starting the threads costs more than the second core saves (measured ~5 µs).
PARALLEL_MIN_SIZE = 1 << 16
prange = range  # numba.prange once numba is imported: the loop below splits between threads when parallel
_forked = threading.Event()  # set in a child process: it keeps to the serial kernel


def _adam_update(params, grads, m_sum, v_sum, beta1, beta2, step, eps):  # pragma: no cover (compiled)
    """Adam.step's ten NumPy passes as one loop: m_sum·β1 + g, v_sum·β2 + g², p -= m/(√v + eps)·step."""
    for i in prange(params.size):
        g = grads[i]
        m = m_sum[i] * beta1 + g
        v = v_sum[i] * beta2 + g * g
        m_sum[i] = m
        v_sum[i] = v
        params[i] -= m / (np.sqrt(v) + eps) * step


@functools.cache
def _compiled(parallel: bool) -> Callable | None:
    """`_adam_update` compiled (split between threads when `parallel`), or None without numba or with
    MLPFLOW_FUSED=0."""
    global prange
    if os.environ.get("MLPFLOW_FUSED", "1") == "0":
        return None
    try:
        import numba
    except ImportError:
        return None
    prange = numba.prange
    if parallel:
        os.register_at_fork(after_in_child=_forked.set)
    return numba.njit(cache=True, boundscheck=False, error_model="numpy", nogil=True,
                      parallel=parallel)(_adam_update)


def parallel_allowed(size: int) -> bool:
    """Whether an update of `size` elements may take the parallel kernel here and now (see the module)."""
    return (size >= PARALLEL_MIN_SIZE and (os.cpu_count() or 1) > 1 and not _forked.is_set()
            and threading.current_thread() is threading.main_thread())


def adam_kernel(size: int = 0) -> Callable | None:
    """The compiled `_adam_update(params, grads, m_sum, v_sum, beta1, beta2, step, eps)` for arrays of
    `size` elements (parallel when `parallel_allowed(size)`), or None without numba or with MLPFLOW_FUSED=0.
    The arrays are 1-D and of one dtype, the scalars of that dtype; params, m_sum and v_sum are updated in
    place."""
    serial = _compiled(False)
    if serial is None or not parallel_allowed(size):
        return serial
    return _compiled(True)
