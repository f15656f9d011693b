"""A run's state (state.json) and its lock: a run another process holds is running, even to this process; the
lock goes with the process that held it, however it ends (kill -9 included); `resumable` finds the newest
incomplete run and says in one line why a named one cannot be resumed."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from flows.store.layout import RunLayout, runs_dir
from flows.store.run_state import (
    NothingToResume,
    RunBusy,
    holding,
    incomplete,
    is_running,
    read_state,
    resumable,
    write_state,
)

REPO = Path(__file__).resolve().parents[3]
HOLDER = """
import sys, time
from flows.store.layout import RunLayout
from flows.store.run_state import holding
with holding(RunLayout.at(sys.argv[1])):
    print("held", flush=True)
    time.sleep(600)
"""


def run_folder(output: Path, name: str, state: str | None = None) -> RunLayout:
    layout = RunLayout.at(runs_dir(output) / name)
    layout.root.mkdir(parents=True)
    if state is not None:
        write_state(layout, state)
    return layout


def hold_in_another_process(layout: RunLayout) -> subprocess.Popen:
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(layout.root)], cwd=REPO, text=True,
                              stdout=subprocess.PIPE, env={**os.environ, "PYTHONPATH": str(REPO)})
    assert holder.stdout.readline().strip() == "held"
    return holder


def test_the_state_is_written_atomically_and_read_back(tmp_path):
    layout = run_folder(tmp_path, "20261203-090000-a")
    assert read_state(layout) is None
    write_state(layout, "running")
    written = write_state(layout, "failed", error="OSError: [Errno 28] No space\n left on device")
    state = read_state(layout)
    assert state == written
    assert (state.state, state.error, state.resumed, state.pid) == (
        "failed", "OSError: [Errno 28] No space left on device", 0, os.getpid())
    assert write_state(layout, "running", resumed=2).resumed == 2
    assert write_state(layout, "completed").resumed == 2  # kept
    assert json.loads(layout.state.read_text())["state"] == "completed"
    assert [p.name for p in layout.root.iterdir()] == ["state.json"]  # no temporary file left


def test_an_unknown_state_or_a_damaged_file_is_refused_naming_it(tmp_path):
    layout = run_folder(tmp_path, "r")
    with pytest.raises(ValueError, match="must be one of running, completed, failed, got 'paused'"):
        write_state(layout, "paused")
    layout.state.write_text("{not json")
    with pytest.raises(ValueError, match=f"{layout.state} is not a run's state"):
        read_state(layout)


def test_a_run_held_by_another_process_is_running_until_that_process_is_killed(tmp_path):
    layout = run_folder(tmp_path, "r", "running")
    assert not is_running(layout) and incomplete(layout)
    holder = hold_in_another_process(layout)
    try:
        assert is_running(layout) and not incomplete(layout)
        with pytest.raises(RunBusy, match="run r is being run by another process"), holding(layout):
            pass
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    deadline = time.monotonic() + 10
    while is_running(layout) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not is_running(layout) and incomplete(layout)  # the state still says running: it was killed
    with holding(layout):
        assert is_running(layout)  # to this process too: another open of the lock file conflicts
    assert not is_running(layout)


def test_resume_finds_the_newest_incomplete_run(tmp_path):
    run_folder(tmp_path, "20261201-000000-a", "running")  # killed
    run_folder(tmp_path, "20261202-000000-a", "failed")
    run_folder(tmp_path, "20261203-000000-a", "completed")
    run_folder(tmp_path, "20261204-000000-a")  # no state: never began (or an older mlpflow's)
    assert resumable(tmp_path).name == "20261202-000000-a"
    assert resumable(tmp_path, "20261201-000000-a").name == "20261201-000000-a"
    busy = RunLayout.at(runs_dir(tmp_path) / "20261202-000000-a")
    holder = hold_in_another_process(busy)
    try:
        assert resumable(tmp_path).name == "20261201-000000-a"  # the newest one is running elsewhere
        with pytest.raises(NothingToResume, match="20261202-000000-a is still running in another process"):
            resumable(tmp_path, busy.name)
    finally:
        holder.kill()
        holder.wait()


@pytest.mark.parametrize(("name", "message"), [
    ("20261203-000000-a", "run 20261203-000000-a is complete; nothing to resume"),
    ("20261204-000000-a", "run 20261204-000000-a has no state.json"),
    ("missing", "--resume: no run 'missing' in "),
    ("../elsewhere", "--resume"),
])
def test_a_run_that_cannot_be_resumed_is_named_with_the_reason(tmp_path, name, message):
    run_folder(tmp_path, "20261203-000000-a", "completed")
    run_folder(tmp_path, "20261204-000000-a")
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(".", r"\.")):
        resumable(tmp_path, name)


def test_nothing_to_resume_says_so(tmp_path):
    with pytest.raises(NothingToResume, match=f"no incomplete run in {runs_dir(tmp_path)}"):
        resumable(tmp_path)
    run_folder(tmp_path, "20261203-000000-a", "completed")
    with pytest.raises(NothingToResume, match="every run there completed or is still running"):
        resumable(tmp_path)
