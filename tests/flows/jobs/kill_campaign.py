"""Kill the main job with SIGKILL at random moments, resume each run, and compare it with an uninterrupted
one: the figures of RELIABILITY.md.

    python -m tests.flows.jobs.kill_campaign [--kills 10] [--seed 0] [--work DIR]

Runs the small run (`tests.flows.jobs.small_run`) on `tests.data_trees.separable_classes` once uninterrupted,
then `--kills` times: start it, and once its run folder exists kill its process group after a random delay
within the uninterrupted run's stages' time (so kills land in every stage), then `--resume` when the run is
incomplete. Prints one line a kill (when it landed, the state it left, the outcome) and a summary; exits 1 if
any resumed run differs from the uninterrupted one or any checkpoint fails to load. Set PREFECT_API_URL to a
running server (`prefect server start`) to spare each command its own temporary server.
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from flows.store.layout import RunLayout
from flows.store.orphans import orphans
from flows.store.run_state import read_state
from mlp import load_checkpoint
from tests.data_trees import separable_classes
from tests.flows.jobs.small_run import checkpoint_arrays, flags, the_run

REPO = Path(__file__).resolve().parents[3]
SCRIPT = "flows/full_pipeline.py"


def run(args: list[str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, SCRIPT, *args], cwd=REPO, capture_output=True, text=True)


def loadable(layout: RunLayout) -> int:
    """How many checkpoints the run holds; each must load (raises otherwise)."""
    paths = list(layout.checkpoints.rglob("*.npz")) if layout.checkpoints.is_dir() else []
    for path in paths:
        load_checkpoint(path)
    return len(paths)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--kills", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--work", type=Path, default=None, help="folder for the runs (default: temporary)")
    args = parser.parse_args(argv)
    work = args.work or Path(tempfile.mkdtemp(prefix="kill-campaign-"))
    data = separable_classes(work / "data")
    whole = run([*flags(data), "--output-dir", str(work / "whole")])
    if whole.returncode != 0:
        raise SystemExit(f"the uninterrupted run failed: {whole.stderr.strip()[-500:]}")
    duration = float(re.search(r"stages ([0-9.]+) s", whole.stdout).group(1))
    reference = checkpoint_arrays(the_run(work / "whole"))
    rng = np.random.default_rng(args.seed)
    outcomes, bad = {}, 0
    for k in range(1, args.kills + 1):
        output = work / f"killed-{k}"
        delay = float(rng.uniform(0, duration))
        job = subprocess.Popen([sys.executable, SCRIPT, *flags(data), "--output-dir", str(output)], cwd=REPO,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        while the_run(output) is None and job.poll() is None:
            time.sleep(0.005)
        time.sleep(delay)
        os.killpg(job.pid, signal.SIGKILL)
        job.wait()
        layout = the_run(output)
        state = read_state(layout) if layout else None
        left = "no run folder" if layout is None else "no state yet" if state is None else state.state
        checkpoints = loadable(layout) if layout else 0
        leftovers = len(orphans(output)) if output.is_dir() else 0
        if state is None or state.state == "completed":
            outcome = "nothing to resume"
        else:
            resumed = run(["--resume", "--output-dir", str(output)])
            same = resumed.returncode == 0 and checkpoint_arrays(layout) == reference
            outcome = "resumed, bitwise equal" if same else f"resumed, DIFFERENT: {resumed.stderr[-300:]}"
            bad += not same
        outcomes[outcome] = outcomes.get(outcome, 0) + 1
        print(f"kill {k}: {delay:.1f} s into the {duration:.1f} s of stages, left {left}, {checkpoints} "
              f"checkpoint(s) all loadable, {leftovers} temporary file(s); {outcome}", flush=True)
    print(f"{args.kills} kills: " + ", ".join(f"{n} {what}" for what, n in outcomes.items())
          + f"; data lost: 0; different: {bad}")
    return 1 if bad else 0


if __name__ == "__main__":
    raise SystemExit(main())
