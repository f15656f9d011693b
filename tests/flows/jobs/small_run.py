"""A small run of the main job for the fault tests (tests/flows/jobs/test_resume.py, test_disk_faults.py): its
flags, and what to compare between an interrupted run and an uninterrupted one."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

from flows.store.layout import RunLayout, runs_dir
from mlp import load_checkpoint

EPOCHS = 24
NETWORKS = ("1-raw", "2-framed")


def flags(data: Path) -> list[str]:
    """About 0.1 s an epoch on `tests.data_trees.separable_classes`: long enough for a fault to land during
    training."""
    return ["--data-dir", str(data), "--hidden", "64", "--epochs", str(EPOCHS), "--batch-size", "16"]


def last_epoch(layout: RunLayout, network: str) -> int:
    """The epoch of the network's last.npz, 0 before it has one."""
    path = layout.member_checkpoints(network) / "last.npz"
    return load_checkpoint(path).epoch if path.is_file() else 0


def checkpoint_arrays(layout: RunLayout) -> dict[str, str]:
    """SHA-256 of every array of the run's checkpoints (the ensemble's and each network's), by file and key;
    the metadata (run name, data folder) left out."""
    out = {}
    for path in sorted(layout.checkpoints.rglob("*.npz")):
        with np.load(path) as npz:
            for key in npz.files:
                if key != "__meta__":
                    digest = hashlib.sha256(np.ascontiguousarray(npz[key]).tobytes()).hexdigest()
                    out[f"{path.relative_to(layout.checkpoints)}:{key}"] = digest
    return out


def history_columns(layout: RunLayout) -> list[list[str]]:
    """history.csv's network, epoch, losses and accuracies (not the seconds) of every row."""
    return [line.split(",")[:6] for line in layout.history.read_text().splitlines()]


def the_run(output: Path) -> RunLayout | None:
    """The one run folder of an output folder (hidden entries, such as retention's lock, left out), or None
    before it exists."""
    folder = runs_dir(output)
    found = sorted(p for p in folder.iterdir() if not p.name.startswith(".")) if folder.is_dir() else []
    return RunLayout.at(found[0]) if found else None
