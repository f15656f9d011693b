"""A disk that fails during training, for tests/flows/jobs/test_disk_faults.py; run inside a private mount
namespace (``unshare``) whose DISK is a small tmpfs:

    python tests/flows/jobs/disk_faults.py DISK FAULT DATA

FAULT is `full` (a file fills the disk) or `read-only` (the disk is remounted read-only), injected once the
first network has finished two epochs. The small run (`tests.flows.jobs.small_run`, without retries) runs on
DISK/out until it fails; the fault is then undone and the run resumed with ``--resume``. Prints JSON: each
command's exit status and last stderr line, the run's state after each, the epochs each network had saved,
the arrays of its checkpoints (SHA-256), its history and the temporary files left. The tmpfs goes with the
namespace, so everything is read here.
"""

from __future__ import annotations

import errno
import json
import subprocess
import sys
import time
from pathlib import Path

from flows.store.run_state import read_state
from tests.flows.jobs.small_run import (
    NETWORKS,
    checkpoint_arrays,
    flags,
    history_columns,
    last_epoch,
    the_run,
)

SCRIPT = "flows/full_pipeline.py"


def fill(disk: Path) -> Path:
    """Write zeros to DISK/filler until the disk is full."""
    filler = disk / "filler"
    with open(filler, "wb") as handle:
        try:
            while True:
                handle.write(b"\0" * 2**20)
                handle.flush()
        except OSError as error:
            if error.errno != errno.ENOSPC:
                raise
    return filler


def remount(disk: Path, mode: str) -> None:
    """Remount the disk read-only (`ro`) or writable (`rw`); the kernel refuses `ro` while a file is open for
    writing on it (an atomic write under way), so try again for a few seconds."""
    for _ in range(500):
        done = subprocess.run(["mount", "-o", f"remount,{mode}", str(disk)], capture_output=True, text=True)
        if done.returncode == 0:
            return
        time.sleep(0.01)
    raise OSError(f"cannot remount {disk} {mode}: {done.stderr.strip()}")


def last_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1] if lines else ""


def main(disk: Path, fault: str, data: Path) -> dict:
    output = disk / "out"
    job = subprocess.Popen([sys.executable, SCRIPT, *flags(data), "--train-retries", "0", "--output-dir",
                            str(output)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    layout, deadline = None, time.monotonic() + 240
    while job.poll() is None and time.monotonic() < deadline:
        run = the_run(output)
        if run and last_epoch(run, NETWORKS[0]) >= 2:
            layout = run
            break
        time.sleep(0.005)
    if layout is None:
        job.kill()
        return {"error": "training never reached epoch 2: " + last_line(job.communicate()[1])}
    filler = fill(disk) if fault == "full" else remount(disk, "ro")
    failed = job.communicate()[1]
    report = {"failed_status": job.returncode, "failed_line": last_line(failed),
              "traceback_shown": "Traceback" in failed,
              "failed_state": read_state(layout).__dict__,
              "saved_epochs": {n: last_epoch(layout, n) for n in NETWORKS}}
    if fault == "full":
        filler.unlink()
    else:
        remount(disk, "rw")
    resumed = subprocess.run([sys.executable, SCRIPT, "--resume", "--output-dir", str(output)],
                             capture_output=True, text=True)
    report |= {"resumed_status": resumed.returncode, "resumed_line": last_line(resumed.stderr),
               "resumed_out": last_line(resumed.stdout), "resumed_state": read_state(layout).__dict__,
               "weights": checkpoint_arrays(layout),
               "history": history_columns(layout),
               "temporary": sorted(str(p) for p in output.rglob("*.tmp"))}
    return report


if __name__ == "__main__":
    print(json.dumps(main(Path(sys.argv[1]), sys.argv[2], Path(sys.argv[3]))))
