"""Retention: what the output folder keeps, so that a scheduled job does not fill the disk.

- Run folders, `<output>/runs/<run>/`: the newest `keep` by name (names begin with the time the run began)
  are kept, and so are the one `latest` points to, every data folder's champion run (`models/<key>/champion`
  -> `versions/<run>`), and every run still in progress: one a process runs (`flows.store.run_state`), or
  one not in the history of runs whose folder changed in the last `STALE_AFTER` seconds. Older runs are
  removed, incomplete ones (killed, never resumed) too.
- Champion versions, `<output>/models/<key>/versions/<run>/`: the newest `keep` of each data folder and the
  champion in force (a version holds its own model.npz: its run folder may go).
- Arrays that can be rebuilt (`REBUILDABLE`): a finished run's data/train.npz (or, streamed,
  data/train.parquet), the training rows after augmentation and shuffling, which the augment and shuffle
  stages write again from dataset.parquet and data/split.npz. The models, the report, the validation arrays
  and every record stay.

Nothing outside `<output>/runs` and `<output>/models/*/versions` is touched. Two retentions take turns (a
lock in runs/), and versions are pruned under the promotion lock. A folder is removed by renaming it to
`.<name>.<token>.deleting` beside itself and then deleting that, so an interrupted removal never leaves a
half-deleted folder that looks complete; such leftovers go the next time. No Prefect here.
"""

from __future__ import annotations

import os
import secrets
import shutil
import time
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path

from flows.store.champion import PROMOTION_LOCK  # the lock promote_if_better holds
from flows.store.layout import RunLayout, all_models_dirs, champion_link, latest_link, runs_dir, versions_dir
from flows.store.locks import locked
from flows.store.run_state import is_running

STALE_AFTER = 24 * 3600.0  # seconds: a run folder unchanged this long, and not in the history, was abandoned
# RunLayout fields of a finished run that are deleted (see above)
REBUILDABLE = ("train_data", "train_stream")
_DELETING = ".deleting"
_LOCK = ".retention.lock"


@dataclass(frozen=True)
class Pruned:
    """What `prune` removed: run folders, champion versions (as `<key>/<run>`), rebuildable array files, and
    the bytes this freed on disk (of files whose last link went)."""

    runs: tuple[str, ...]
    versions: tuple[str, ...]
    arrays: tuple[Path, ...]
    freed_bytes: int

    def describe(self) -> str:
        """One line for the log."""
        runs = f" ({', '.join(self.runs)})" if self.runs else ""
        versions = f" ({', '.join(self.versions)})" if self.versions else ""
        return (f"Retention: removed {len(self.runs)} run folder(s){runs}, {len(self.versions)} champion "
                f"version(s){versions} and {len(self.arrays)} rebuildable array file(s); freed "
                f"{self.freed_bytes / 1e6:.1f} MB")


def prune(output_dir: str | Path, keep: int, finished: Collection[str], now: float | None = None) -> Pruned:
    """Apply retention to `output_dir`, keeping `keep` (>= 1) runs and versions of each data folder;
    `finished` names the runs that ended (the history of runs); `now` (`time.time()`) judges STALE_AFTER."""
    if isinstance(keep, bool) or not isinstance(keep, int) or keep < 1:
        raise ValueError(f"keep must be an integer >= 1, got {keep!r}")
    output_dir, now = Path(output_dir), time.time() if now is None else now
    runs = runs_dir(output_dir)
    if not runs.is_dir():
        return Pruned((), (), (), 0)
    with locked(runs / _LOCK):
        doomed, kept = plan_runs(output_dir, keep, finished, now)
        freed = sum(remove_folder(folder) for folder in doomed)
        arrays = [path for folder in kept for name in REBUILDABLE
                  if (path := getattr(RunLayout.at(folder), name)).is_file()]
        freed += sum(_delete_file(path) for path in arrays)
        versions = []
        for models in all_models_dirs(output_dir):
            with locked(models / PROMOTION_LOCK):
                for version in removable_versions(models, keep):
                    freed += remove_folder(version)
                    versions.append(f"{models.name}/{version.name}")
        for parent in (runs, *(versions_dir(models) for models in all_models_dirs(output_dir))):
            freed += sum(remove_folder(leftover) for leftover in parent.glob(f".*{_DELETING}"))
    return Pruned(tuple(f.name for f in doomed), tuple(versions), tuple(arrays), freed)


def plan_runs(output_dir: Path, keep: int, finished: Collection[str],
              now: float) -> tuple[list[Path], list[Path]]:
    """(the run folders retention removes, the finished ones it keeps), each oldest first."""
    names = _names(runs_dir(output_dir))
    protected = protected_runs(output_dir)
    doomed, kept = [], []
    for rank, name in enumerate(reversed(names)):  # newest first
        folder = runs_dir(output_dir) / name
        stale = now - _last_change(folder) > STALE_AFTER
        if is_running(RunLayout.at(folder)) or not (name in finished or stale):
            continue  # in progress
        (doomed if rank >= keep and name not in protected else kept).append(folder)
    return doomed[::-1], kept[::-1]


def protected_runs(output_dir: Path) -> set[str]:
    """The names of the runs never removed: the one `latest` points to, and every data folder's champion."""
    links = [latest_link(output_dir), *(champion_link(m) for m in all_models_dirs(output_dir))]
    return {link.resolve().name for link in links if link.is_symlink()}


def removable_versions(models: Path, keep: int) -> list[Path]:
    """The champion versions of one models folder (`<output>/models/<key>`) beyond the newest `keep`, oldest
    first, never the one `champion` points to; none when `champion` exists but is not a symlink."""
    link = champion_link(models)
    if link.exists() and not link.is_symlink():
        return []
    champion = link.resolve().name if link.is_symlink() else None
    names = _names(versions_dir(models))
    return [versions_dir(models) / name for name in names[:-keep] if name != champion]


def remove_folder(folder: Path) -> int:
    """Rename `folder` to a hidden `.<name>.<token>.deleting` beside it (unless it is one already), then
    delete that; return the bytes freed."""
    doomed = Path(folder)
    if not doomed.name.endswith(_DELETING):
        doomed = doomed.with_name(f".{doomed.name}.{secrets.token_hex(4)}{_DELETING}")
        os.rename(folder, doomed)
    freed = sum(_freed(path) for path in doomed.rglob("*") if path.is_file() and not path.is_symlink())
    shutil.rmtree(doomed)
    return freed


def _delete_file(path: Path) -> int:
    freed = _freed(path)
    path.unlink()
    return freed


def _names(parent: Path) -> list[str]:
    """The names of the real folders in `parent` (no symlinks, none starting with '.'), sorted."""
    if not parent.is_dir():
        return []
    return sorted(p.name for p in parent.iterdir()
                  if p.is_dir() and not p.is_symlink() and not p.name.startswith("."))


def _last_change(folder: Path) -> float:
    """The newest modification time of `folder` and its entries (history.csv changes after every epoch)."""
    return max([folder.stat().st_mtime, *(p.lstat().st_mtime for p in folder.iterdir())])


def _freed(path: Path) -> int:
    """The bytes deleting `path` frees: its blocks, unless another link keeps them (a run's dataset.parquet
    is a hard link to the shared data set)."""
    stat = path.lstat()
    return stat.st_blocks * 512 if stat.st_nlink == 1 else 0
