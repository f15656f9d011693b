"""Which data a run reads: --data-dir, then data/raw, then the digits demo."""

from __future__ import annotations

import pytest

from flows.pipeline.sources import DEMO_NAME, DataSource, resolve_data
from flows.store import layout


@pytest.fixture
def data_dirs(tmp_path, monkeypatch):
    """layout.RAW_DIR and DEMO_DIR moved into tmp_path (raw without train/ at first)."""
    raw, demo = tmp_path / "data" / "raw", tmp_path / "data" / "demo"
    raw.mkdir(parents=True)
    monkeypatch.setattr(layout, "RAW_DIR", raw)
    monkeypatch.setattr(layout, "DEMO_DIR", demo)
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
