"""Why mlpflow's element-wise work runs on one core, and what one thread pool for everything would give.

Three measurements on mlpflow's own shapes, each the best of `--repeat` runs of 200 calls:

1. OpenBLAS's worker thread between matrix products: the process's CPU time over wall time while the main
   thread works alone (a busy loop), or sleeps, for 0.1 to 300 ms between products of [64, 784] x [784, 500].
   Busy, about 2 means the worker keeps spinning on the second core all the while, waiting for the next
   product; asleep, about 1 means it spins the whole gap, and below that for how long it still spins.
2. Adam's compiled update of [784, 500, 12]'s 398,000 parameters, each right after such a product: one loop
   (mlp.fused) and the same loop split between numba's threads (`prange`), with OpenBLAS on two threads (its
   worker spinning) and on one (no worker).
3. The products themselves, µs each: NumPy's matmul with OpenBLAS on two threads and on one, and the same
   product cut in two halves that numba's threads run at once, each on one OpenBLAS thread; and whether the
   halves, and OpenBLAS's two threads, give bitwise what one thread gives.

    python -m benchmarks.second_core [--repeat 5]
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable

import numpy as np
from threadpoolctl import threadpool_limits

from benchmarks.bench_train import environment, repeat_from_command_line
from mlp.fused import adam_kernel

CALLS = 200


def busy_ratio(gap: float, a: np.ndarray, w: np.ndarray, sleep: bool = False) -> float:
    """CPU seconds over wall seconds of products of a and w, each followed by `gap` s of busy waiting (or of
    sleep)."""
    cpu, wall = time.process_time(), time.perf_counter()
    for _ in range(max(5, round(1.0 / gap))):
        a @ w
        if sleep:
            time.sleep(gap)
            continue
        start = time.perf_counter()
        while time.perf_counter() - start < gap:
            pass
    return (time.process_time() - cpu) / (time.perf_counter() - wall)


def parallel_kernels() -> tuple[Callable, Callable, Callable]:
    """Compiled for numba's threads: Adam's loop, a @ w by row halves, x.T @ g by its row halves."""
    import numba

    @numba.njit(boundscheck=False, error_model="numpy", nogil=True, parallel=True)
    def adam(params, grads, m_sum, v_sum, beta1, beta2, step, eps):  # mlp.fused's loop, over threads
        for i in numba.prange(params.size):
            g = grads[i]
            m = m_sum[i] * beta1 + g
            v = v_sum[i] * beta2 + g * g
            m_sum[i] = m
            v_sum[i] = v
            params[i] -= m / (np.sqrt(v) + eps) * step

    @numba.njit(nogil=True, parallel=True)
    def rows(a, w, out):
        half = a.shape[0] // 2
        for t in numba.prange(2):
            lo, hi = t * half, (a.shape[0] if t else half)
            out[lo:hi] = np.dot(a[lo:hi], w)

    @numba.njit(nogil=True, parallel=True)
    def weight_grad(x, g, out):
        half = x.shape[1] // 2
        for t in numba.prange(2):
            lo, hi = t * half, (x.shape[1] if t else half)
            out[lo:hi] = np.dot(np.ascontiguousarray(x[:, lo:hi]).T, g)

    return adam, rows, weight_grad


def best_us(fn: Callable[[], object], repeat: int, before: Callable[[], object] | None = None) -> float:
    """Best of `repeat` runs of CALLS calls of fn, in µs per call; `before` runs untimed before each call."""
    runs = []
    for _ in range(repeat):
        spent = 0.0
        for _ in range(CALLS):
            if before is not None:
                before()
            start = time.perf_counter()
            fn()
            spent += time.perf_counter() - start
        runs.append(spent / CALLS * 1e6)
    return min(runs)


def main(repeat: int) -> None:
    serial = adam_kernel()
    if serial is None:
        raise SystemExit("this benchmark needs numba (and MLPFLOW_FUSED unset)")
    adam, rows, weight_grad = parallel_kernels()
    rng, f32 = np.random.default_rng(0), np.float32
    a, w = rng.random((64, 784), f32), rng.random((784, 500), f32)
    state = [rng.random(398_000, f32) for _ in range(4)]
    scalars = (f32(0.9), f32(0.999), f32(1e-3), f32(1e-8))
    print("\n".join(environment()[:2]))

    gaps = (1e-4, 1e-3, 1e-2, 5e-2, 0.1, 0.15, 0.2, 0.3)
    print("\n1. CPU time over wall time: a product, then the main thread alone for ...")
    print("| main thread | " + " | ".join(f"{gap * 1e3:g} ms" for gap in gaps) + " |")
    print("|---|" + "---|" * len(gaps))
    for sleep in (False, True):
        cells = [f"{busy_ratio(gap, a, w, sleep):.2f}" for gap in gaps]
        print(f"| {'asleep' if sleep else 'busy'} | " + " | ".join(cells) + " |")

    print("\n2. Adam's update of 398,000 parameters right after a product, µs")
    print("| OpenBLAS threads | one loop | numba's threads |\n|---|---|---|")
    out = np.empty((64, 500), f32)
    for threads in (2, 1):
        with threadpool_limits(threads, user_api="blas"):
            product = lambda: np.matmul(a, w, out=out)  # noqa: E731
            cells = [best_us(lambda k=k: k(*state, *scalars), repeat, product) for k in (serial, adam)]
        print(f"| {threads} | " + " | ".join(f"{c:,.0f}" for c in cells) + " |")

    print("\n3. Matrix products, µs: OpenBLAS on 2 threads, on 1, and halves on numba's 2 threads (1 each)")
    print("| product | 2 threads | 1 thread | halves | bitwise 1 thread's: halves | 2 threads |")
    print("|---|---|---|---|---|---|")
    for b, n_in, n_out in ((64, 784, 500), (256, 784, 500), (64, 512, 512)):
        x, wt, g = rng.random((b, n_in), f32), rng.random((n_in, n_out), f32), rng.random((b, n_out), f32)
        y, dw = np.empty((b, n_out), f32), np.empty((n_in, n_out), f32)
        print(product_row(f"[{b}, {n_in}] x [{n_in}, {n_out}]", functools.partial(np.matmul, x, wt, out=y),
                          functools.partial(rows, x, wt, y), y, repeat))
        print(product_row(f"[{b}, {n_in}]ᵀ x [{b}, {n_out}]", functools.partial(np.matmul, x.T, g, out=dw),
                          functools.partial(weight_grad, x, g, dw), dw, repeat))


def product_row(label: str, whole: Callable, halves: Callable, result: np.ndarray, repeat: int) -> str:
    """One row of table 3: `whole` on 2 and 1 OpenBLAS threads, `halves` (all writing `result`)."""
    with threadpool_limits(1, user_api="blas"):
        halves()
        split_result = result.copy()
        whole()
        one_result = result.copy()
        one, split = best_us(whole, repeat), best_us(halves, repeat)
    with threadpool_limits(2, user_api="blas"):
        whole()
        two_equal = np.array_equal(result, one_result)
        two = best_us(whole, repeat)
    equal = ["yes" if same else "no" for same in (np.array_equal(split_result, one_result), two_equal)]
    return f"| {label} | {two:,.0f} | {one:,.0f} | {split:,.0f} | " + " | ".join(equal) + " |"


if __name__ == "__main__":
    main(repeat_from_command_line(__doc__, "runs per cell, whose best counts"))
