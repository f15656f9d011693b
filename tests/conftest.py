"""Shared fixtures: the real hanzi12 data set from ../shared, skipped with a reason where it is absent."""

from __future__ import annotations

import os
from pathlib import Path

# One BLAS thread: the suite's matrices are small, and two threads on a shared 2-core machine make small
# products up to 10x slower. Set before NumPy loads its BLAS; a value the caller exported wins.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import pytest

REPO = Path(__file__).resolve().parents[1]
HANZI12 = Path(os.environ.get("MLPFLOW_HANZI12", REPO.parent / "shared" / "datasets" / "hanzi12"))


@pytest.fixture(scope="session")
def hanzi12_root() -> Path:
    """Root of the real hanzi12 data set (train/<1..12>/*.bmp, labels.txt)."""
    if not (HANZI12 / "train").is_dir():
        pytest.skip(
            f"real data absent: {HANZI12} not found (it lives in ../shared beside the repository; "
            "set MLPFLOW_HANZI12 to point elsewhere)"
        )
    return HANZI12
