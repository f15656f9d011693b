"""A small run of the main job for the fault tests (tests/flows/jobs/test_resume.py, test_disk_faults.py,
test_stream_pipeline.py): its flags, how to kill it during training, and what to compare between an
interrupted run and an uninterrupted one."""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from flows.store.layout import RunLayout, runs_dir
from mlp import load_checkpoint

REPO = Path(__file__).resolve().parents[3]
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


def kill_during_training(output: Path, env: dict[str, str], job_flags: list[str]) -> RunLayout:
    """Start the main job with `job_flags` as a subprocess writing to `output` and kill -9 its process group
    once the first network has finished two epochs; retried when the kill came after training ended (a
    loaded machine). Returns the killed run."""
    for _ in range(3):
        shutil.rmtree(output, ignore_errors=True)
        job = subprocess.Popen([sys.executable, "flows/full_pipeline.py", *job_flags, "--output-dir",
                                str(output)], cwd=REPO, env=env, start_new_session=True,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 240
        while job.poll() is None and time.monotonic() < deadline:
            run = the_run(output)
            if run and last_epoch(run, NETWORKS[0]) >= 2:
                break
            time.sleep(0.005)
        os.killpg(job.pid, signal.SIGKILL)
        stderr = job.communicate()[1]
        assert job.returncode in (-signal.SIGKILL, 0), stderr[-2000:]
        layout = the_run(output)
        if any(last_epoch(layout, n) < EPOCHS for n in NETWORKS):
            return layout
    pytest.fail("three runs ended before the kill landed during training")


def assert_same_weights(run: RunLayout, reference: RunLayout) -> None:
    """Every array of the checkpoints is equal, and so are the losses and accuracies of every epoch."""
    arrays = checkpoint_arrays(run)
    assert arrays == checkpoint_arrays(reference)
    files = {key.split(":")[0] for key in arrays}
    assert files == {"best.npz", *(f"{n}/{f}.npz" for n in NETWORKS for f in ("best", "last"))}
    assert history_columns(run) == history_columns(reference)
