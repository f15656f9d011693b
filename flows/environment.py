"""The environment mlpflow's flows run in: Prefect's settings and the BLAS threads.

Nothing happens on import: `apply()` sets the environment (Prefect's settings, one BLAS thread), and the
command line (`flows.cli`) calls it first, before NumPy and Prefect load. Standard library only, so that
``--help`` stays fast.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

# The environment every flow runs in; `apply` sets them with setdefault, so the user's own values win. NumPy
# and Prefect read them when they load.
ENV_DEFAULTS = {
    # Prefect's local ephemeral mode, offline-friendly on a 2-core machine.
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "90",
    # One BLAS thread. Prefect's server shares the machine; with two cores and two threads, OpenBLAS's
    # spinning threads made hanzi12 epochs 20x slower (13 s instead of 0.65 s) whenever the other core was
    # busy; one thread took 1.0-1.4 s, busy or not. Export OPENBLAS_NUM_THREADS to choose otherwise.
    "OPENBLAS_NUM_THREADS": "1",
}
# Whether the user chose the BLAS threads (read before `apply` sets the default); if not, training shares
# the cores out (training_blas_threads).
BLAS_THREADS_GIVEN = "OPENBLAS_NUM_THREADS" in os.environ


def apply() -> None:
    """Set ENV_DEFAULTS where the environment does not set them already. Call it before NumPy and Prefect
    are imported: they read these variables when they load."""
    for key, value in ENV_DEFAULTS.items():
        os.environ.setdefault(key, value)


def training_blas_threads(networks: int) -> int | None:
    """BLAS threads for each of `networks` trained side by side: the cores shared out (one each for two
    networks on two cores, two for a lone network), or None to leave a user's OPENBLAS_NUM_THREADS alone.
    Measured: two networks trained side by side on one thread each made 1.3x the epochs per second of the
    same two trained one after the other on two threads (benchmarks/bench_distort.py)."""
    if BLAS_THREADS_GIVEN:
        return None
    return max(1, (os.cpu_count() or 1) // networks)


@contextmanager
def blas_threads(n: int | None) -> Iterator[None]:
    """Run the block with `n` BLAS threads (threadpoolctl), or as it is for None."""
    if n is None:
        yield
        return
    from threadpoolctl import threadpool_limits

    with threadpool_limits(n, user_api="blas"):
        yield
