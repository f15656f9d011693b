"""mlp.atomic: a failed write leaves the old file whole and no temporary file behind."""

from __future__ import annotations

import os
import stat

import numpy as np
import pytest

from mlp.atomic import atomic_open, save_npz, write_bytes


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
