"""Retention on real folders: the oldest finished runs and champion versions go; latest, champions, runs in
progress and everything outside runs/ and models/*/versions stay; rebuildable arrays go from kept runs; a
removal is a rename first, so an interrupted one leaves only a hidden folder, cleared the next time."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from flows.store import retention
from flows.store.layout import RunLayout, champion_link, datasets_dir, models_dir, versions_dir
from flows.store.retention import STALE_AFTER, prune, remove_folder
from flows.store.run_state import holding, write_state
from flows.store.runs import point_latest
from mlp.atomic import point_symlink

NAMES = [f"20261201-0{k}0000-hanzi12" for k in range(1, 9)]  # r1 .. r8, oldest first
R = dict(zip(range(1, 9), NAMES, strict=True))
FINISHED = {R[1], R[2], R[4], R[5], R[6], R[8]}  # r3 was abandoned long ago, r7 is still training
NOW = time.time()


def make_run(out: Path, name: str, shared: Path, age: float = 60.0) -> RunLayout:
    """A run folder with the files a run writes, its dataset a hard link to `shared`; every other entry last
    changed `age` seconds ago."""
    layout = RunLayout.create(out, name)
    for path, kb in ((layout.best, 300), (layout.train_data, 200), (layout.val_data, 20),
                     (layout.report_html, 10), (layout.params, 1)):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(os.urandom(kb * 1024))
    os.link(shared, layout.dataset)  # a link keeps the data set's own time: when it was ingested
    for path in (*layout.root.rglob("*"), layout.root):
        if path != layout.dataset:
            os.utime(path, (NOW - age, NOW - age), follow_symlinks=False)
    return layout


def make_version(models: Path, name: str) -> Path:
    folder = versions_dir(models) / name
    folder.mkdir(parents=True)
    (folder / "model.npz").write_bytes(os.urandom(100 * 1024))
    return folder


@pytest.fixture
def output(tmp_path) -> Path:
    """r1..r8 with latest -> r5, hanzi's champion -> versions/r2 (versions r1, r2, r4, r6), the digits'
    models without a champion link (version r3), a sweep, a data set, the history and index.html."""
    out = tmp_path / "artifacts"
    shared = datasets_dir(out) / "hanzi12-0123456789ab.parquet"
    shared.parent.mkdir(parents=True)
    shared.write_bytes(os.urandom(50 * 1024))
    os.utime(shared, (NOW - 3 * STALE_AFTER, NOW - 3 * STALE_AFTER))  # ingested before every run
    for k, name in R.items():
        make_run(out, name, shared, age=2 * STALE_AFTER if k == 3 else 60.0)
    point_latest(out, out / "runs" / R[5])
    hanzi = models_dir(out, "hanzi12-0123456789ab")
    for k in (1, 2, 4, 6):
        make_version(hanzi, R[k])
    point_symlink(champion_link(hanzi), Path("versions") / R[2])
    make_version(models_dir(out, "digits-abcdef012345"), R[3])
    sweep = out / "sweeps" / "s1" / "shared" / "data"
    sweep.mkdir(parents=True)
    (sweep / "train.npz").write_bytes(b"sweep arrays")
    (out / "history").mkdir()
    (out / "history" / "runs.parquet").write_bytes(b"the history")
    (out / "index.html").write_text("<html></html>")
    return out


def outside(out: Path) -> dict[str, bytes]:
    """Every file outside runs/ and models/*/versions/, by path, with its bytes (links as their target)."""
    found = {}
    for path in out.rglob("*"):
        relative = path.relative_to(out).as_posix()
        if relative.startswith("runs/") or "/versions/" in relative or relative.endswith("/versions"):
            continue
        if path.is_symlink():
            found[relative] = os.readlink(path).encode()
        elif path.is_file():
            found[relative] = path.read_bytes()
    return found


def _blocks(paths) -> int:
    return sum(p.lstat().st_blocks * 512 for p in paths if p.lstat().st_nlink == 1)


def test_the_oldest_finished_runs_go_and_latest_champions_and_runs_in_progress_stay(output):
    before = outside(output)
    doomed = [output / "runs" / R[k] for k in (1, 3, 4, 6)]
    expected = (_blocks(f for d in doomed for f in d.rglob("*") if f.is_file())
                + _blocks([versions_dir(models_dir(output, "hanzi12-0123456789ab")) / R[1] / "model.npz"])
                + _blocks([RunLayout.create(output, R[k]).train_data for k in (2, 5, 8)]))
    pruned = prune(output, 2, FINISHED, now=NOW)
    # r8 and r7 are the newest two; r5 is latest, r2 the champion; r7 (in progress) keeps its arrays.
    assert pruned.runs == (R[1], R[3], R[4], R[6])
    assert sorted(p.name for p in (output / "runs").iterdir() if not p.name.startswith(".")) == [
        R[2], R[5], R[7], R[8]]
    assert [p.parent.parent.name for p in pruned.arrays] == [R[2], R[5], R[8]]
    assert not any(p.exists() for p in pruned.arrays) and RunLayout.create(output, R[7]).train_data.is_file()
    assert all(RunLayout.create(output, R[k]).val_data.is_file() for k in (2, 5, 7, 8))
    assert pruned.versions == (f"hanzi12-0123456789ab/{R[1]}",)
    hanzi = versions_dir(models_dir(output, "hanzi12-0123456789ab"))
    assert sorted(p.name for p in hanzi.iterdir() if not p.name.startswith(".")) == [R[2], R[4], R[6]]
    assert [p.name for p in versions_dir(models_dir(output, "digits-abcdef012345")).iterdir()] == [R[3]]
    assert champion_link(hanzi.parent).resolve().name == R[2] and (output / "latest").resolve().name == R[5]
    locks = {f"models/{key}/.promotion.lock": b"" for key in ("hanzi12-0123456789ab", "digits-abcdef012345")}
    assert outside(output) == before | locks  # only the (empty) lock files promotions take too
    assert pruned.freed_bytes == expected > 0  # the hard-linked dataset.parquet freed nothing
    assert "removed 4 run folder(s)" in pruned.describe() and f"{expected / 1e6:.1f} MB" in pruned.describe()


def test_a_second_pass_removes_nothing_more(output):
    prune(output, 2, FINISHED, now=NOW)
    again = prune(output, 2, FINISHED, now=NOW)
    assert again == retention.Pruned((), (), (), 0)


def test_keeping_more_runs_than_there_are_only_drops_rebuildable_arrays(output):
    pruned = prune(output, 20, FINISHED, now=NOW)
    assert pruned.runs == () and pruned.versions == ()
    assert len(pruned.arrays) == 7  # every run but r7, which is in progress (r3, abandoned, counts as done)
    assert sorted(p.name for p in (output / "runs").iterdir() if not p.name.startswith(".")) == NAMES


def test_versions_stay_when_champion_is_not_a_link(tmp_path):
    models = models_dir(tmp_path, "hanzi12-0123456789ab")
    for name in NAMES[:4]:
        make_version(models, name)
    champion_link(models).mkdir()  # a person's folder: mlpflow cannot tell which version is in force
    (tmp_path / "runs").mkdir()
    assert prune(tmp_path, 1, set(), now=NOW).versions == ()
    assert sorted(p.name for p in versions_dir(models).iterdir()) == NAMES[:4]


def test_an_interrupted_removal_leaves_a_hidden_folder_that_the_next_pass_removes(output, monkeypatch):
    def interrupted(path, *args, **kwargs):
        raise KeyboardInterrupt("power cut")

    monkeypatch.setattr(retention.shutil, "rmtree", interrupted)
    with pytest.raises(KeyboardInterrupt):
        remove_folder(output / "runs" / R[1])
    leftovers = [p.name for p in (output / "runs").iterdir() if p.name.startswith(f".{R[1]}.")]
    assert len(leftovers) == 1 and leftovers[0].endswith(".deleting")  # never under its own name
    assert not (output / "runs" / R[1]).exists()
    monkeypatch.undo()
    pruned = prune(output, 20, FINISHED, now=NOW)
    assert not any(p.name.endswith(".deleting") for p in (output / "runs").iterdir())
    assert pruned.freed_bytes > 0


def test_nothing_to_prune_without_runs_and_keep_must_be_positive(tmp_path):
    assert prune(tmp_path, 1, set()) == retention.Pruned((), (), (), 0)
    assert not (tmp_path / "runs").exists()
    for bad in (0, -1, 1.5, True):
        with pytest.raises(ValueError, match=f"keep must be an integer >= 1, got {bad!r}"):
            prune(tmp_path, bad, set())


def test_a_run_a_process_holds_stays_however_long_it_has_been_quiet(output):
    """r3 has been quiet for 2 * STALE_AFTER (a long epoch, or a killed run): while a process holds it, it is
    running and stays; once none does, it goes like any old run."""
    quiet = RunLayout.create(output, R[3])
    write_state(quiet, "running")
    quiet.lock.touch()  # made when the run began
    os.utime(quiet.root, (NOW - 2 * STALE_AFTER, NOW - 2 * STALE_AFTER))
    for path in quiet.root.iterdir():
        os.utime(path, (NOW - 2 * STALE_AFTER, NOW - 2 * STALE_AFTER))
    with holding(quiet):
        assert R[3] not in prune(output, 2, FINISHED, now=NOW).runs
    assert quiet.root.is_dir()
    assert prune(output, 2, FINISHED, now=NOW).runs == (R[3],)
