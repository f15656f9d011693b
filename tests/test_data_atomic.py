"""mlp.data.atomic: a failed write leaves the old file whole and no temporary file behind."""

from __future__ import annotations

import os
import stat

import pytest

from mlp.data.atomic import atomic_open, write_bytes


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
