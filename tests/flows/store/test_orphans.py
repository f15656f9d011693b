"""Orphan temporary files: all of those in run folders no process runs and in the caller's own run, only old
ones in the shared folders, never a running run's."""

from __future__ import annotations

import os
import time
from pathlib import Path

from flows.store.layout import RunLayout, runs_dir
from flows.store.orphans import SHARED_AFTER, is_temporary, orphans, remove_orphans
from flows.store.run_state import holding, write_state
from mlp.atomic import atomic_open


def touch(path: Path, size: int = 10, age: float = 0.0) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"x" * size)
    if age:
        then = time.time() - age
        os.utime(path, (then, then))
    return path


def test_atomic_writes_temporary_names_are_recognised(tmp_path):
    target = tmp_path / "model.npz"
    with atomic_open(target) as handle:
        [tmp] = [p for p in tmp_path.iterdir() if p != target]
        handle.write(b"x")
    assert is_temporary(tmp.name)
    assert not is_temporary("model.npz") and not is_temporary("notes.tmp") and not is_temporary(".hidden")


def test_orphans_of_idle_runs_and_old_shared_files_go_and_a_running_runs_stay(tmp_path):
    idle = RunLayout.at(runs_dir(tmp_path) / "20261201-000000-a")
    busy = RunLayout.at(runs_dir(tmp_path) / "20261202-000000-a")
    own = RunLayout.at(runs_dir(tmp_path) / "20261203-000000-a")
    for layout in (idle, busy, own):
        layout.root.mkdir(parents=True)
        write_state(layout, "running")
    doomed = [touch(idle.checkpoints / "1-raw" / ".last.npz.abc123.tmp", 1000),
              touch(own.root / ".history.csv.x1.tmp", 5),
              touch(tmp_path / "datasets" / ".data-0123.parquet.q.tmp", 20, age=SHARED_AFTER + 60),
              touch(tmp_path / "models" / "k" / "versions" / ".r.deadbeef.tmp", 1, age=SHARED_AFTER + 60)]
    link = tmp_path / ".latest.0a1b.tmp"  # a symlink's swap (mlp.atomic.point_symlink): not followed
    link.symlink_to(idle.root, target_is_directory=True)
    then = time.time() - SHARED_AFTER - 60
    os.utime(link, (then, then), follow_symlinks=False)
    doomed.append(link)
    sizes = sum(p.lstat().st_size for p in doomed)
    kept = [touch(busy.checkpoints / "1-raw" / ".last.npz.zz.tmp"),
            touch(tmp_path / "datasets" / ".data-0123.parquet.new.tmp"),  # another run may be writing it
            touch(idle.root / "report.md"), touch(idle.root / "notes.tmp")]
    deleting = touch(tmp_path / "runs" / ".old.1234.deleting" / ".x.tmp")  # retention's business
    with holding(busy), holding(own):
        assert orphans(tmp_path, own=own) == sorted(doomed)
        assert remove_orphans(tmp_path, own=own) == (len(doomed), sizes)
    assert all(p.exists() for p in kept) and deleting.exists()
    assert not any(os.path.lexists(p) for p in doomed)
    assert idle.root.is_dir()  # the link went, not its target


def test_an_output_folder_without_runs_has_no_orphans(tmp_path):
    assert orphans(tmp_path / "nowhere") == []
    assert remove_orphans(tmp_path) == (0, 0)
