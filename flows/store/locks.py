"""An exclusive lock on a file (POSIX `flock`), held for a `with` block: it serialises writers across
processes and threads (each `with` opens the file anew), and the system releases it if the process dies."""

from __future__ import annotations

import fcntl
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def locked(path: str | Path) -> Iterator[None]:
    """Hold an exclusive lock on `path` (created if missing; its folder must exist) for the block."""
    with open(path, "ab") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
