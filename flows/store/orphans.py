"""Temporary files left by an interrupted write: every file mlpflow writes goes first to a hidden
``.<name>.<token>.tmp`` beside its target (`mlp.atomic`), which a process killed mid-write leaves behind.

`orphans` finds them: in a run folder that no process is running (`flows.store.run_state`), all of them; in
the shared folders (data sets, models, history, sweeps), those older than `SHARED_AFTER`, since another run
may be writing there now. No Prefect here.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

from flows.store.layout import RunLayout, runs_dir
from flows.store.run_state import is_running

# A write of mlpflow's takes seconds; a temporary file in a shared folder untouched for an hour is an orphan.
SHARED_AFTER = 3600.0


def is_temporary(name: str) -> bool:
    """Whether a file name is one of `mlp.atomic`'s temporary names."""
    return name.startswith(".") and name.endswith(".tmp")


def orphans(output_dir: str | Path, own: RunLayout | None = None, now: float | None = None) -> list[Path]:
    """The orphan temporary files of `output_dir`, sorted: those of every run folder no process runs, those
    of `own` (the caller's run, before it writes: the leftovers of its interrupted attempt), and those of
    other folders last changed more than `SHARED_AFTER` seconds ago."""
    output_dir, now = Path(output_dir), time.time() if now is None else now
    found = []
    runs = runs_dir(output_dir)
    for run in sorted(runs.iterdir()) if runs.is_dir() else []:
        if not run.is_dir() or run.is_symlink() or run.name.startswith("."):
            continue
        layout = RunLayout.at(run)
        if (own is not None and run == own.root) or not is_running(layout):
            found += _temporaries(run)
    for path in _temporaries(output_dir, skip=runs):
        try:
            if now - path.lstat().st_mtime > SHARED_AFTER:
                found.append(path)
        except FileNotFoundError:  # its writer just finished
            continue
    return sorted(found)


def remove_orphans(output_dir: str | Path, own: RunLayout | None = None) -> tuple[int, int]:
    """Remove `orphans` (see there); return (files removed, bytes freed)."""
    count = freed = 0
    for path in orphans(output_dir, own):
        try:
            size = path.lstat().st_size
            path.unlink()
        except FileNotFoundError:
            continue
        count, freed = count + 1, freed + size
    return count, freed


def _temporaries(top: Path, skip: Path | None = None) -> Iterator[Path]:
    """The temporary files under `top` (a temporary symlink to a folder, `latest`'s, among them), symlinks
    not followed, `skip` and retention's folders being deleted left out."""
    for folder, dirs, names in os.walk(top):
        links = [d for d in dirs if Path(folder, d).is_symlink()]
        dirs[:] = [d for d in dirs
                   if d not in links and not d.endswith(".deleting") and Path(folder, d) != skip]
        yield from (Path(folder, name) for name in [*names, *links] if is_temporary(name))
