"""Atomic file writes: a temporary file beside the target, flushed to disk, then moved over it.

Every file mlpflow writes (checkpoints, Parquet, arrays, reports, CSV) goes through `atomic_open`, so a crash
mid-write never leaves a truncated file where a whole one was; `snapshot` and `point_symlink` put a file or a
link in place the same way.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

import numpy as np

# mkstemp creates files readable by their owner only; finished files get the usual permissions instead.
_UMASK = os.umask(0)
os.umask(_UMASK)
_FILE_MODE = 0o666 & ~_UMASK


@contextmanager
def atomic_open(path: str | os.PathLike) -> Iterator[BinaryIO]:
    """Open a binary file that replaces ``path`` only when the ``with`` block ends without an error.

    A failure leaves any existing file at ``path`` untouched and removes the temporary file; an OSError that
    names no file (a write to a full disk) is raised again naming ``path``.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
            os.fchmod(handle.fileno(), _FILE_MODE)
        os.replace(tmp, target)
    except OSError as error:
        Path(tmp).unlink(missing_ok=True)
        if error.errno is not None and error.filename is None:  # a write failed (a full disk): name the file
            raise OSError(error.errno, error.strerror, str(target)) from error
        raise
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically; return the path."""
    with atomic_open(path) as handle:
        handle.write(data)
    return Path(path)


def save_npz(path: str | os.PathLike, arrays: Mapping[str, np.ndarray]) -> Path:
    """Write named arrays to one ``.npz`` atomically. Object arrays, which would need pickle, raise
    TypeError: every file written here loads with ``allow_pickle=False``."""
    converted = {name: np.asarray(a) for name, a in arrays.items()}
    for name, a in converted.items():
        if a.dtype.hasobject:
            raise TypeError(f"array {name!r} has dtype object, which .npz cannot hold without pickle")
    with atomic_open(path) as handle:
        np.savez(handle, **converted)
    return Path(path)


def snapshot(src: str | os.PathLike, dest: str | os.PathLike) -> Path:
    """Put `src`'s current content at `dest` atomically: a hard link (no copy; later atomic rewrites of `src`
    replace its file, so `dest` keeps this version), or a copy where links are impossible."""
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".{dest.name}.{uuid.uuid4().hex[:12]}.tmp")
    try:
        try:
            os.link(src, tmp)
        except OSError:  # another file system, or links not supported: copy instead
            shutil.copy2(src, tmp)
        os.replace(tmp, dest)
    finally:
        tmp.unlink(missing_ok=True)
    return dest


def point_symlink(link: str | os.PathLike, target: str | os.PathLike) -> Path:
    """Make `link` a symlink to `target` (kept as given: pass a relative path for a relocatable link) in one
    rename(2): readers see the old target until the instant of the swap and the new one after it. Raises
    FileExistsError, deleting nothing, when `link` exists and is not a symlink."""
    link = Path(link)
    if link.exists() and not link.is_symlink():
        raise FileExistsError(f"{link} exists and is not a symlink; move it away so that it can point at "
                              f"{target}")
    tmp = link.with_name(f".{link.name}.{uuid.uuid4().hex[:12]}.tmp")
    os.symlink(target, tmp, target_is_directory=True)
    try:
        os.replace(tmp, link)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fsync_path(link.parent)
    return link


def fsync_path(path: str | os.PathLike) -> None:
    """Flush a file, or a folder's entries (a rename or a new file in it), to disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
