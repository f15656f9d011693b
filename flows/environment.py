"""The environment mlpflow's flows run in: Prefect's settings and the BLAS threads; and the checks made before
a run starts Prefect (`preflight`: the output folder, the class folders, free disk space).

Nothing happens on import: `apply()` sets the environment (Prefect's settings, one BLAS thread), and the
command line (`flows.cli`) calls it first, before NumPy and Prefect load. Standard library only (Pillow reads
one image header in `estimated_bytes`), so that ``--help`` stays fast.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from itertools import pairwise
from pathlib import Path

# The environment every flow runs in; `apply` sets them with setdefault, so the user's own values win. NumPy
# and Prefect read them when they load.
ENV_DEFAULTS = {
    # Prefect's local ephemeral mode, offline-friendly on a 2-core machine.
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "90",
    # One BLAS thread. Prefect's server shares the machine; with two cores and two threads, OpenBLAS's
    # spinning threads made hanzi12 epochs 20x slower (13 s instead of 0.65 s) whenever the other core was
    # busy; one thread took 1.0-1.4 s, busy or not. Export OPENBLAS_NUM_THREADS to choose otherwise.
    "OPENBLAS_NUM_THREADS": "1",
}
# Whether the user chose the BLAS threads (read before `apply` sets the default); if not, training shares
# the cores out (training_blas_threads).
BLAS_THREADS_GIVEN = "OPENBLAS_NUM_THREADS" in os.environ


def apply() -> None:
    """Set ENV_DEFAULTS where the environment does not set them already. Call it before NumPy and Prefect
    are imported: they read these variables when they load."""
    for key, value in ENV_DEFAULTS.items():
        os.environ.setdefault(key, value)


def training_blas_threads(networks: int) -> int | None:
    """BLAS threads for each of `networks` trained side by side: the cores shared out (one each for two
    networks on two cores, two for a lone network), or None to leave a user's OPENBLAS_NUM_THREADS alone.
    Measured: two networks trained side by side on one thread each made 1.3x the epochs per second of the
    same two trained one after the other on two threads (benchmarks/bench_distort.py)."""
    if BLAS_THREADS_GIVEN:
        return None
    return max(1, (os.cpu_count() or 1) // networks)


@contextmanager
def blas_threads(n: int | None) -> Iterator[None]:
    """Run the block with `n` BLAS threads (threadpoolctl), or as it is for None."""
    if n is None:
        yield
        return
    from threadpoolctl import threadpool_limits

    with threadpool_limits(n, user_api="blas"):
        yield


# ----------------------------------------------------------------------------- checks before work

# Bytes a run writes per pixel of each training image: the ingested Parquet (1 byte, uncompressed at worst)
# and four float32 copies (split, normalised, augmented, shuffled).
BYTES_PER_PIXEL = 1 + 4 * 4
# Bytes per parameter of each network: three checkpoints (last, best, and the atomic write's temporary
# copy), each holding the float32 weights and Adam's two moments.
BYTES_PER_PARAMETER = 3 * 3 * 4
RUN_MARGIN = 20 * 2**20  # the report, its figures, the history and index.html: a few MB; 20 MB to be safe


def output_problem(output_dir: Path) -> str | None:
    """Why the run cannot write to `output_dir`, in one line naming the remedy, or None when it can: a
    writable folder (`folder_problem`) whose `latest` is a symlink or absent."""
    from flows.store import layout

    problem = folder_problem(output_dir)
    if problem:
        return problem
    latest = layout.latest_link(output_dir)
    if latest.exists() and not latest.is_symlink():
        kind = "folder" if latest.is_dir() else "file"
        return (f"--output-dir: {latest} is a {kind}, not the symlink to the newest run mlpflow keeps there; "
                "move it away (or give another --output-dir)")
    return None


def folder_problem(output_dir: Path) -> str | None:
    """Why nothing can be written to `output_dir`, in one line naming the remedy, or None: not a file, and
    writable (created when missing)."""
    if output_dir.exists() and not output_dir.is_dir():
        return f"--output-dir: {output_dir} is a file, not a folder; give a folder (it is created if missing)"
    try:
        output_dir.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=output_dir):
            pass
    except OSError as error:
        reason = error.strerror or str(error)
        return (f"--output-dir: cannot write to {output_dir} ({reason}); make it writable or give a folder "
                "you can write to")
    return None


def class_folders(data_root: Path) -> list[str] | None:
    """The class folders under `data_root`/train (not hidden), or None when there is no train/ folder
    (ingest then says what is missing)."""
    train = data_root / "train"
    if not train.is_dir():
        return None
    return sorted(p.name for p in train.iterdir() if p.is_dir() and not p.name.startswith("."))


def estimated_bytes(data_root: Path, hidden: Sequence[int], networks: int) -> int:
    """A rough size of one run's files on `data_root`: BYTES_PER_PIXEL for each pixel of each image under
    train/ and validation/, BYTES_PER_PARAMETER for each parameter of each of `networks` networks (input the
    first image's pixels, then `hidden`, then one output per class folder), and RUN_MARGIN."""
    from mlp.data.folders import IMAGE_EXTENSIONS  # what ingest reads

    images, first = 0, None
    for split in ("train", "validation"):
        for folder, _, names in os.walk(data_root / split):
            found = [n for n in names if n.lower().endswith(IMAGE_EXTENSIONS)]
            images += len(found)
            if first is None and found:
                first = Path(folder) / found[0]
    pixels = 0
    if first is not None:
        try:
            from PIL import Image

            with Image.open(first) as image:  # reads the header only
                pixels = image.width * image.height
        except (OSError, ValueError):
            pixels = 0  # unreadable: the quality report says so; count nothing for the images
    sizes = [pixels, *hidden, max(2, len(class_folders(data_root) or ()))]
    parameters = sum(a * b + b for a, b in pairwise(sizes))
    return images * pixels * BYTES_PER_PIXEL + networks * parameters * BYTES_PER_PARAMETER + RUN_MARGIN


def data_problem(data_root: Path, data_flag: str = "--data-dir") -> str | None:
    """Why `data_root` cannot train a classifier, if its folders say so at a glance (fewer than two class
    folders under train/), or None. Deeper checks (empty or unreadable classes) stay with ingest."""
    names = class_folders(data_root)
    if names is None or len(names) >= 2:
        return None
    found = f"only {names[0]!r}" if names else "none"
    return (f"{data_flag}: {data_root / 'train'} has {found} of the class folders a classifier needs (at "
            f"least two: train/<class>/*.bmp); add a folder per class")


def disk_problem(output_dir: Path, needed: int) -> str | None:
    """Why `output_dir`'s disk cannot hold `needed` bytes more, or None."""
    free = shutil.disk_usage(output_dir).free
    if free >= needed:
        return None
    return (f"--output-dir: {output_dir} has {free / 2**20:.0f} MB free, and the run needs about "
            f"{needed / 2**20:.0f} MB; free some disk space or give a folder on another disk")


def preflight(output_dir: Path, data_root: Path | None, hidden: Sequence[int], networks: int) -> str | None:
    """The first problem that would make a run fail, in one line, or None: the output folder (a writable
    folder, `latest` a symlink or absent), the data (at least two class folders; None: the built-in demo,
    not written yet), then free disk space for `estimated_bytes`. Run it before Prefect starts."""
    problem = output_problem(output_dir)
    if problem is None and data_root is not None:
        problem = data_problem(data_root) or disk_problem(output_dir,
                                                          estimated_bytes(data_root, hidden, networks))
    return problem
