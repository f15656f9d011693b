"""The one place that names mlpflow's paths and the Prefect settings it runs with."""

from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
DATA_DIR = REPO_ROOT / "data"
RAW_DIR = DATA_DIR / "raw"
DEMO_DIR = DATA_DIR / "demo"
ARTIFACTS_DIR = REPO_ROOT / "artifacts"

# The environment every flow runs in; setdefault, so the user's own values win. The flow scripts import
# `flows` before NumPy and Prefect, which read these when they load.
ENV_DEFAULTS = {
    # Prefect's local ephemeral mode, offline-friendly on a 2-core machine.
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "90",
    # One BLAS thread. Prefect's server shares the machine; with two cores and two threads, OpenBLAS's
    # spinning threads made hanzi12 epochs 20x slower (13 s instead of 0.65 s) whenever the other core was
    # busy; one thread took 1.0-1.4 s, busy or not. Export OPENBLAS_NUM_THREADS to choose otherwise.
    "OPENBLAS_NUM_THREADS": "1",
}
for _key, _value in ENV_DEFAULTS.items():
    os.environ.setdefault(_key, _value)
