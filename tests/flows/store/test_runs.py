"""A run's bookkeeping: which data, run names and folders, the shared data set path, snapshots, `latest`."""

from __future__ import annotations

import os
import time
from datetime import datetime

import pytest

from flows import environment as settings
from flows.jobs.full_pipeline import StageTimer
from flows.pipeline.sources import DEMO_NAME, DataSource, resolve_data
from flows.store.layout import RunLayout, dataset_path, make_run_name, models_dir, slug, source_key
from flows.store.runs import claim_run, point_latest
from mlp.atomic import snapshot


@pytest.fixture
def data_dirs(tmp_path, monkeypatch):
    """settings.RAW_DIR and DEMO_DIR moved into tmp_path (raw without train/ at first)."""
    raw, demo = tmp_path / "data" / "raw", tmp_path / "data" / "demo"
    raw.mkdir(parents=True)
    monkeypatch.setattr(settings, "RAW_DIR", raw)
    monkeypatch.setattr(settings, "DEMO_DIR", demo)
    return raw, demo


def test_data_dir_given_wins(data_dirs, tmp_path):
    raw, _ = data_dirs
    (raw / "train").mkdir()
    mine = tmp_path / "My Images"
    mine.mkdir()
    source = resolve_data(mine)
    assert source == DataSource(mine.resolve(), "given", "My Images")
    assert "--data-dir" in source.describe()


def test_raw_folder_with_train_is_used_before_the_demo(data_dirs):
    raw, _ = data_dirs
    (raw / "train").mkdir()
    source = resolve_data(None)
    assert (source.root, source.kind, source.name) == (raw.resolve(), "raw", "raw")
    assert "--data-dir" in source.describe()


def test_demo_when_there_is_no_user_data(data_dirs):
    raw, demo = data_dirs
    source = resolve_data(None)
    assert (source.root, source.kind, source.name) == (demo.resolve(), "demo", DEMO_NAME)
    text = source.describe()
    assert "1,797 handwritten digits" in text and "--data-dir" in text
    assert f"{raw}/train/<class>/*.bmp" in text


def test_a_missing_data_dir_and_an_unknown_kind_are_refused(tmp_path):
    with pytest.raises(NotADirectoryError, match="missing"):
        resolve_data(tmp_path / "missing")
    with pytest.raises(ValueError, match="given, raw, demo"):
        DataSource(tmp_path, "mine", "x")


@pytest.mark.parametrize(
    ("text", "expected"),
    [("hanzi12", "hanzi12"), ("Hanzi 12!", "hanzi-12"), ("博学", "data"), ("a__b", "a-b")],
)
def test_slug(text, expected):
    assert slug(text) == expected


def test_run_name_sorts_by_time_and_names_the_data():
    assert make_run_name("Hanzi12", datetime(2026, 11, 27, 10, 45, 12)) == "20261127-104512-hanzi12"
    assert make_run_name(DEMO_NAME, datetime(2026, 1, 2, 3, 4, 5)) == "20260102-030405-digits"


def test_claim_run_never_shares_a_folder(tmp_path):
    first = claim_run(tmp_path, "20261127-104512-digits")
    second = claim_run(tmp_path, "20261127-104512-digits")
    third = claim_run(tmp_path, "20261127-104512-digits")
    assert first == RunLayout.create(tmp_path, "20261127-104512-digits")
    assert [second.name, third.name] == ["20261127-104512-digits-2", "20261127-104512-digits-3"]
    assert all(layout.root.is_dir() for layout in (first, second, third))


def test_claim_run_refuses_an_output_folder_inside_the_data(tmp_path):
    data = tmp_path / "my-data"
    (data / "train" / "1").mkdir(parents=True)
    before = sorted(p.relative_to(data) for p in data.rglob("*"))
    with pytest.raises(ValueError, match=r"--output-dir .*my-data/out lies inside the data folder"):
        claim_run(data / "out", "20261127-104512-my-data", data)
    assert sorted(p.relative_to(data) for p in data.rglob("*")) == before  # nothing written
    assert claim_run(tmp_path / "out", "20261127-104512-my-data", data).root.is_dir()


def test_dataset_path_is_one_file_per_data_root(tmp_path):
    a, b = tmp_path / "a" / "hanzi12", tmp_path / "b" / "hanzi12"
    path = dataset_path(tmp_path / "out", a)
    assert path.parent == tmp_path / "out" / "datasets" and path.name.startswith("hanzi12-")
    assert path.suffix == ".parquet"
    assert dataset_path(tmp_path / "out", a / ".." / "hanzi12") == path  # the same folder, however spelt
    assert dataset_path(tmp_path / "out", b) != path


def test_the_source_key_names_the_data_set_and_the_models_folder(tmp_path):
    root = tmp_path / "My Data"
    key = source_key(root)
    assert key.startswith("my-data-") and dataset_path(tmp_path / "out", root).stem == key
    assert models_dir(tmp_path / "out", key) == tmp_path / "out" / "models" / key
    for bad in ("", "..", "a/b", ".hidden"):
        with pytest.raises(ValueError, match="plain folder name"):
            models_dir(tmp_path / "out", bad)


def test_snapshot_keeps_the_version_it_took(tmp_path):
    src, dest = tmp_path / "shared.parquet", tmp_path / "run" / "dataset.parquet"
    src.write_bytes(b"version 1")
    assert snapshot(src, dest) == dest and dest.read_bytes() == b"version 1"
    replacement = tmp_path / "new.tmp"
    replacement.write_bytes(b"version 2")
    os.replace(replacement, src)  # how ingest rewrites the shared file: atomically, a new file
    assert dest.read_bytes() == b"version 1"
    snapshot(src, dest)
    assert dest.read_bytes() == b"version 2"
    assert sorted(p.name for p in dest.parent.iterdir()) == ["dataset.parquet"]  # no temporary file left


def test_latest_points_at_the_newest_run_by_a_relative_link(tmp_path):
    out = tmp_path / "artifacts"
    first, second = claim_run(out, "run-1"), claim_run(out, "run-2")
    link = point_latest(out, first.root)
    assert link == out / "latest" and link.is_symlink()
    assert os.readlink(link) == os.path.join("runs", "run-1")
    point_latest(out, second.root)
    assert link.resolve() == second.root.resolve()
    moved = tmp_path / "moved"
    os.rename(out, moved)  # relative: still right after the output folder moves
    assert (moved / "latest").resolve() == (moved / "runs" / "run-2").resolve()
    assert sorted(p.name for p in moved.iterdir()) == ["latest", "runs"]


def test_latest_never_replaces_a_real_folder(tmp_path):
    (tmp_path / "latest").mkdir()
    (tmp_path / "latest" / "keep.txt").write_text("mine")
    with pytest.raises(FileExistsError, match="not a symlink"):
        point_latest(tmp_path, tmp_path / "runs" / "x")
    assert (tmp_path / "latest" / "keep.txt").read_text() == "mine"


def test_stage_timer_adds_up_each_stage_in_order():
    timer = StageTimer()
    with timer("ingest"):
        time.sleep(0.02)
    with timer("train"):
        pass
    with pytest.raises(RuntimeError), timer("ingest"):
        time.sleep(0.01)
        raise RuntimeError("a failing stage is still timed")
    assert list(timer.seconds) == ["ingest", "train"]
    assert 0.03 <= timer.seconds["ingest"] < 1 and timer.seconds["train"] < 0.01
