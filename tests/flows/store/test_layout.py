"""Where files go: run names, a data folder's key, its data set and models folders, a model path resolved,
a sweep configuration's shared data."""

from __future__ import annotations

from datetime import datetime

import pytest

from flows.store.layout import (
    CHAMPION_MODEL,
    RunLayout,
    check_folder_name,
    dataset_path,
    make_run_name,
    models_dir,
    resolve_model,
    slug,
    source_key,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [("hanzi12", "hanzi12"), ("Hanzi 12!", "hanzi-12"), ("博学", "data"), ("a__b", "a-b")],
)
def test_slug(text, expected):
    assert slug(text) == expected


def test_run_name_sorts_by_time_and_names_the_data():
    assert make_run_name("Hanzi12", datetime(2026, 11, 27, 10, 45, 12)) == "20261127-104512-hanzi12"
    assert make_run_name("digits", datetime(2026, 1, 2, 3, 4, 5)) == "20260102-030405-digits"


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


def test_a_run_or_key_name_must_be_a_plain_folder_name(tmp_path):
    assert check_folder_name("20261203-101500-digits", "run_name") == "20261203-101500-digits"
    for bad in ("", ".", "..", "a/b", "a\\b", ".hidden", "nul\0"):
        with pytest.raises(ValueError, match=r"run_name must be a plain folder name \(no '/'"):
            check_folder_name(bad, "run_name")
    with pytest.raises(ValueError, match="run_name must be a plain folder name"):
        RunLayout.create(tmp_path, "../escape")


def test_a_sweep_configuration_shares_the_data_of_its_sweep(tmp_path):
    shared = RunLayout.at(tmp_path / "shared")
    config = RunLayout.at(tmp_path / "wide").sharing_data_of(shared)
    assert (config.dataset, config.quality, config.split, config.val_data) == (
        shared.dataset, shared.quality, shared.split, shared.val_data)
    assert config.best == tmp_path / "wide" / "checkpoints" / "best.npz"
    assert config.train_data == tmp_path / "wide" / "data" / "train.npz"  # its own augmentation


def test_a_model_path_resolves_to_its_checkpoint_file(tmp_path):
    run = RunLayout.at(tmp_path / "runs" / "r")
    run.best.parent.mkdir(parents=True)
    run.best.write_bytes(b"npz")
    version = tmp_path / "models" / "k" / "versions" / "r"
    version.mkdir(parents=True)
    (version / CHAMPION_MODEL).write_bytes(b"npz")
    (tmp_path / "models" / "k" / "champion").symlink_to("versions/r")
    assert resolve_model(run.root) == run.best.resolve() == resolve_model(run.best)
    assert resolve_model(tmp_path / "models" / "k" / "champion") == (version / CHAMPION_MODEL).resolve()
    with pytest.raises(FileNotFoundError, match=r"holds neither model\.npz"):
        resolve_model(tmp_path / "models")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        resolve_model(tmp_path / "nothing.npz")
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(ValueError, match=r"is not a \.npz checkpoint"):
        resolve_model(tmp_path / "notes.txt")
