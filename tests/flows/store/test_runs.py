"""A run's bookkeeping on disk: its folder claimed once, its record, `latest`."""

from __future__ import annotations

import os

import pytest

from flows.store.layout import RunLayout
from flows.store.runs import claim_run, point_latest


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


