"""Decoding many image files: one after another, or in chunks over worker processes, the outcomes in the
files' order either way.

The workers are local processes (`concurrent.futures.ProcessPoolExecutor`, started with ``spawn``: the
caller may be a threaded Prefect flow, which ``fork`` would copy mid-lock), or any executor given, e.g. a
Dask cluster's ``distributed.Client(address).get_executor()``, whose workers must see the files at the same
paths. Each file is read, hashed and decoded by `images.read_file`, so the outcomes are the serial ones.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Sequence
from concurrent.futures import Executor, ProcessPoolExecutor

from mlp.data import images

CHUNK_FILES = 512  # files per task at most: a task's outcome is ~0.5 MB of 28x28 pixels
CHUNKS_PER_WORKER = 4  # smaller chunks than workers x this on small folders: every worker gets some


def check_workers(workers: int) -> int:
    """`workers` itself when it is an integer >= 1; else ValueError naming it."""
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ValueError(f"workers must be an integer >= 1 (1: decode in this process), got {workers!r}")
    return workers


def chunks(paths: Sequence[str], workers: int) -> list[Sequence[str]]:
    """`paths` in consecutive chunks: CHUNKS_PER_WORKER per worker, of at most CHUNK_FILES files."""
    size = max(1, min(CHUNK_FILES, -(-len(paths) // (workers * CHUNKS_PER_WORKER))))
    return [paths[i:i + size] for i in range(0, len(paths), size)]


def decode_chunk(paths: Sequence[str], resize: images.Shape | None) -> list[images.Decoded]:
    """Read, hash and decode each file of one chunk (a worker's task)."""
    return [images.read_file(path, resize) for path in paths]


def decode_files(paths: Sequence[str | os.PathLike], resize: images.Shape | None = None, *, workers: int = 1,
                 executor: Executor | None = None) -> list[images.Decoded]:
    """Each file's outcome (`images.Decoded`), in the order of `paths`: decoded here when `workers` is 1
    and no `executor` is given, else in chunks over `workers` new local processes, or over `executor`."""
    workers = check_workers(workers)
    paths = [os.fspath(p) for p in paths]
    if executor is None and (workers == 1 or len(paths) < 2):
        return decode_chunk(paths, resize)
    parts = chunks(paths, workers)
    sizes = [resize] * len(parts)  # a list, not itertools.repeat: Dask's executor takes sized iterables only
    if executor is not None:
        return [d for part in executor.map(decode_chunk, parts, sizes) for d in part]
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(min(workers, len(parts)), mp_context=context) as pool:
        return [d for part in pool.map(decode_chunk, parts, sizes) for d in part]
