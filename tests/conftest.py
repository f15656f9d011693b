"""Shared fixtures: the real hanzi12 data set from ../shared, skipped with a reason where it is absent."""

from __future__ import annotations

import os
from pathlib import Path

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
