"""mlp.atomic: a failed write leaves the old file whole and no temporary file behind."""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

import numpy as np
import pytest

from mlp.atomic import atomic_open, point_symlink, save_npz, snapshot, write_bytes


def test_write_replaces_the_file(tmp_path):
    path = write_bytes(tmp_path / "sub" / "f.bin", b"one")
    write_bytes(path, b"two")
    assert path.read_bytes() == b"two"
    assert os.listdir(path.parent) == ["f.bin"]
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~umask  # as open() would make it, not mkstemp's 0600


def test_failure_keeps_the_old_file(tmp_path):
    path = write_bytes(tmp_path / "f.bin", b"precious")
    with pytest.raises(RuntimeError), atomic_open(path) as handle:
        handle.write(b"half")
        raise RuntimeError("writer failed")
    assert path.read_bytes() == b"precious"
    assert os.listdir(tmp_path) == ["f.bin"]


def test_save_npz_round_trips_and_refuses_object_arrays(tmp_path):
    path = save_npz(tmp_path / "a.npz", {"X": np.arange(6, dtype=np.uint8).reshape(2, 3), "y": [1, 2]})
    with np.load(path, allow_pickle=False) as npz:
        np.testing.assert_array_equal(npz["X"], [[0, 1, 2], [3, 4, 5]])
        assert npz["X"].dtype == np.uint8 and npz["y"].tolist() == [1, 2]
    with pytest.raises(TypeError, match="'names' has dtype object"):
        save_npz(tmp_path / "b.npz", {"names": np.array(["a", None], dtype=object)})
    assert sorted(os.listdir(tmp_path)) == ["a.npz"]


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


def test_a_symlink_is_swapped_in_one_step_and_never_replaces_a_real_file(tmp_path):
    (tmp_path / "v1").mkdir()
    (tmp_path / "v2").mkdir()
    link = point_symlink(tmp_path / "current", "v1")
    assert os.readlink(link) == "v1" and link.resolve() == (tmp_path / "v1").resolve()
    point_symlink(link, "v2")
    assert os.readlink(link) == "v2"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["current", "v1", "v2"]  # no temporary link left
    (tmp_path / "real").write_text("mine")
    with pytest.raises(FileExistsError, match="exists and is not a symlink"):
        point_symlink(tmp_path / "real", "v1")
    assert (tmp_path / "real").read_text() == "mine"


def test_a_full_disk_is_reported_naming_the_file_being_written(tmp_path):
    """Writing to /dev/full fails like a full disk (ENOSPC, with no file name of its own)."""
    if not Path("/dev/full").exists():
        pytest.skip("/dev/full is missing: no device that is always full")
    target = tmp_path / "model.npz"
    target.write_bytes(b"the saved version")
    with pytest.raises(OSError) as failed, atomic_open(target) as handle, open("/dev/full", "wb") as full:
        handle.write(b"new")
        full.write(b"x" * 2**16)
        full.flush()
    assert failed.value.errno == errno.ENOSPC and failed.value.filename == str(target)
    assert str(failed.value) == f"[Errno 28] No space left on device: '{target}'"
    assert target.read_bytes() == b"the saved version" and os.listdir(tmp_path) == ["model.npz"]
