"""A run's state on disk: ``<run>/state.json`` says running, completed or failed, and a lock on
``<run>/.running.lock``, held by the process running it (the system releases it when that process dies, even
by ``kill -9``), says whether it still runs.

A run whose state is not completed and whose lock is free was interrupted (killed, or the machine stopped) or
failed: `resumable` finds it, and ``--resume`` continues it (`flows.jobs.full_pipeline`). A run is marked
completed only after its report is written; incomplete runs are never `latest` nor promoted. No Prefect here.
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from flows.store.layout import RunLayout, check_folder_name, runs_dir
from mlp.atomic import write_bytes

STATES = ("running", "completed", "failed")


class RunBusy(ValueError):
    """The run is held by another process that is still running it."""


class NothingToResume(ValueError):
    """No run can be resumed as asked: none is incomplete, or the named one is complete, running or absent."""


@dataclass(frozen=True)
class RunState:
    """One run's state.json: its state, when it last changed, how many times it was resumed, the error that
    failed it (one line), where the process that ran it last ran (host, pid) and its Prefect flow run."""

    state: str
    updated: str
    resumed: int = 0
    error: str | None = None
    host: str = ""
    pid: int = 0
    flow_run_id: str = ""

    def __post_init__(self) -> None:
        if self.state not in STATES:
            raise ValueError(f"a run's state must be one of {', '.join(STATES)}, got {self.state!r}")


def read_state(layout: RunLayout) -> RunState | None:
    """The run's state, or None for a run folder without state.json (one written before states existed, or
    one whose first stage has not begun)."""
    path = layout.state
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as error:
        raise ValueError(f"{path} is not a run's state (JSON with a 'state'): {error}") from error
    if not isinstance(record, dict) or "state" not in record:
        raise ValueError(f"{path} is not a run's state (JSON with a 'state')")
    return RunState(**{k: record[k] for k in RunState.__dataclass_fields__ if k in record})


def write_state(layout: RunLayout, state: str, *, error: str | None = None, resumed: int | None = None,
                flow_run_id: str | None = None) -> RunState:
    """Record `state` (with a failure's one-line `error`) in the run's state.json, atomically; the count of
    resumptions and the flow run are kept unless given."""
    previous = read_state(layout)
    record = RunState(state=state, updated=datetime.now(timezone.utc).isoformat(timespec="seconds"),
                      resumed=(previous.resumed if previous else 0) if resumed is None else resumed,
                      error=None if error is None else " ".join(error.split()), host=socket.gethostname(),
                      pid=os.getpid(), flow_run_id=(previous.flow_run_id if previous else "")
                      if flow_run_id is None else flow_run_id)
    text = json.dumps(record.__dict__, indent=2, ensure_ascii=False) + "\n"
    write_bytes(layout.state, text.encode("utf-8"))
    return record


@contextmanager
def holding(layout: RunLayout) -> Iterator[None]:
    """Hold the run's lock for the block: another process's `holding` of the same run raises RunBusy, and
    `is_running` says True meanwhile. The system releases the lock when this process ends, however it ends."""
    with _lock_file(layout) as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise RunBusy(f"run {layout.name} is being run by another process ({layout.root}); wait for it "
                          "to end") from None
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def is_running(layout: RunLayout) -> bool:
    """Whether a process holds the run's lock now (see `holding`)."""
    path = layout.lock
    if not path.exists():
        return False
    with _lock_file(layout) as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(handle, fcntl.LOCK_UN)
        return False


@contextmanager
def _lock_file(layout: RunLayout) -> Iterator[int]:
    """The run's lock file, created if missing, open for reading only: flock needs no more, and a file open
    for writing would keep its disk from being remounted read-only."""
    fd = os.open(layout.lock, os.O_RDONLY | os.O_CREAT, 0o644)
    try:
        yield fd
    finally:
        os.close(fd)


def incomplete(layout: RunLayout) -> bool:
    """A run that began (it has a state), did not complete and that no process runs now."""
    state = read_state(layout)
    return state is not None and state.state != "completed" and not is_running(layout)


def resumable(output_dir: str | Path, name: str | None = None) -> RunLayout:
    """The run ``--resume`` continues: the named one, or the newest incomplete run of `output_dir`. Raises
    NothingToResume in one line saying why none can be."""
    if name:
        layout = RunLayout.at(runs_dir(output_dir) / check_folder_name(name, "--resume"))
        if not layout.root.is_dir():
            raise NothingToResume(f"--resume: no run {name!r} in {runs_dir(output_dir)}")
        state = read_state(layout)
        if state is None:
            raise NothingToResume(f"--resume: run {name} has no state.json (it never began, or an older "
                                  "mlpflow ran it): it cannot be resumed")
        if state.state == "completed":
            raise NothingToResume(f"--resume: run {name} is complete; nothing to resume")
        if is_running(layout):
            raise NothingToResume(f"--resume: run {name} is still running in another process "
                                  f"(pid {state.pid} on {state.host})")
        return layout
    folder = runs_dir(output_dir)
    names = sorted((p.name for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".")),
                   reverse=True) if folder.is_dir() else []
    for candidate in names:
        layout = RunLayout.at(folder / candidate)
        if incomplete(layout):
            return layout
    raise NothingToResume(f"--resume: no incomplete run in {folder}: every run there completed or is still "
                          "running")
