"""A disk that fills up or turns read-only while the main job trains: the job ends in one line naming the
cause and the remedy, keeps every checkpoint it had saved, records the run as failed, and ``--resume`` then
ends with the weights of an uninterrupted run.

The disk is a real 48 MB tmpfs, mounted in a private mount namespace (``unshare``: as root, or in a user
namespace where the system allows them), where tests/flows/jobs/disk_faults.py runs the scenario; the test
skips, saying why, where neither is possible."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.flows.jobs.small_run import EPOCHS, NETWORKS, checkpoint_arrays, history_columns

pytestmark = pytest.mark.usefixtures("prefect_harness")

REPO = Path(__file__).resolve().parents[3]
MOUNT = 'mount -t tmpfs -o size=48m tmpfs "$0" && exec "$@"'
SCRIPT = "tests/flows/jobs/disk_faults.py"
CAUSE = {"full": "[Errno 28] No space left on device: ", "read-only": "[Errno 30] Read-only file system: "}
REMEDY = {"full": "; free some disk space or give --output-dir a folder on another disk",
          "read-only": "; make it writable, or give --output-dir a folder you can write to"}


def in_small_disk(disk: Path, *command: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    """Run `command` in a private mount namespace where `disk` is a fresh 48 MB tmpfs."""
    unshare = shutil.which("unshare")
    if unshare is None:
        pytest.skip("unshare (util-linux) is missing: no private tmpfs for a small disk")
    disk.mkdir()
    probe = subprocess.run([unshare, "--user", "--map-root-user", "--mount", "sh", "-c", MOUNT, str(disk),
                            "true"], capture_output=True, text=True)
    if probe.returncode != 0:
        pytest.skip(f"cannot mount a private tmpfs here (unshare: {probe.stderr.strip()[-200:]})")
    return subprocess.run([unshare, "--user", "--map-root-user", "--mount", "sh", "-c", MOUNT, str(disk),
                           *command], cwd=REPO, env=env, capture_output=True, text=True, timeout=600)


@pytest.mark.parametrize("fault", ["full", "read-only"])
def test_a_disk_failing_during_training_loses_nothing_and_the_run_resumes(
        fault, small_data, uninterrupted, tmp_path, prefect_api_env):
    done = in_small_disk(tmp_path / "disk", sys.executable, SCRIPT, str(tmp_path / "disk"), fault,
                         str(small_data), env={**prefect_api_env, "PYTHONPATH": str(REPO)})
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert "error" not in report, report

    # The failure: one line naming the cause and the remedy, exit status 1, the run recorded as failed.
    assert report["failed_status"] == 1 and not report["traceback_shown"], report
    assert report["failed_line"].startswith("python flows/full_pipeline.py: error: ")
    line = report["failed_line"]
    assert CAUSE[fault] + repr(str(tmp_path / "disk" / "out" / "runs"))[:-1] in line  # a file of the run
    assert line.endswith(REMEDY[fault] + " (--debug shows the traceback)"), line
    assert report["failed_state"]["state"] in {"failed", "running"}  # a read-only disk cannot record it
    saved = report["saved_epochs"]
    assert all(saved[n] >= 1 for n in NETWORKS) and min(saved.values()) < EPOCHS, saved

    # The resumed run: complete, and what an uninterrupted run ends with.
    assert report["resumed_status"] == 0, report["resumed_line"]
    assert report["resumed_out"].startswith("Validation accuracy")
    assert (report["resumed_state"]["state"], report["resumed_state"]["resumed"]) == ("completed", 1)
    assert report["weights"] == checkpoint_arrays(uninterrupted)
    assert report["history"] == [list(row) for row in history_columns(uninterrupted)]
    assert report["temporary"] == []
