"""Atomic file writes: a temporary file beside the target, flushed to disk, then moved over it.

Every file mlpflow writes (checkpoints, Parquet, arrays, reports) goes through `atomic_open`, so a crash
mid-write never leaves a truncated file where a whole one was.
"""

from __future__ import annotations

import os
import tempfile
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

    A failure leaves any existing file at ``path`` untouched and removes the temporary file.
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
