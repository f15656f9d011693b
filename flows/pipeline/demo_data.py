"""The built-in demo data set: scikit-learn's UCI handwritten digits written once as BMP class folders.

Layout, the same as a user's own data: ``dest/train/<0..9>/<i>.bmp`` (``i`` is the row of ``load_digits()``,
so every file traces back to its source) and ``dest/labels.txt`` (``FOLDER NAME`` per line, UTF-8). Each image
is an 8x8, 8-bit grayscale BMP, inverted to dark ink on a white background like hanzi12: a digits value v in
0..16 becomes p = ``255 - round(v * 255 / 16)``, which maps back exactly: ``round((255 - p) * 16 / 255)``.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

DIGITS_MAX = 16  # load_digits() values run from 0 (background) to 16 (full ink)


NEEDS_SKLEARN = ("the built-in digits demo needs scikit-learn: pip install 'mlpflow[demo]' (or '.[demo]' "
                 "in a checkout); or train on your own images with --data-dir DIR")


def available() -> bool:
    """Whether the demo can be written: scikit-learn imports."""
    try:
        import sklearn.datasets  # noqa: F401
    except ImportError:
        return False
    return True


def load_digits():
    """scikit-learn's digits (its `load_digits()`); ImportError saying what to do when it is not installed."""
    try:
        from sklearn.datasets import load_digits as load
    except ImportError:
        raise ImportError(NEEDS_SKLEARN) from None
    return load()


def digits_to_pixels(values: np.ndarray) -> np.ndarray:
    """Digits values (..., 8, 8) in 0..16 to uint8 pixels of the same shape: dark ink (0) on white (255)."""
    values = np.asarray(values, dtype=np.float64)
    if values.size and (values.min() < 0 or values.max() > DIGITS_MAX):
        raise ValueError(f"digits values must lie in [0, {DIGITS_MAX}], got [{values.min()}, {values.max()}]")
    return (255 - np.rint(values * 255 / DIGITS_MAX)).astype(np.uint8)


def pixels_to_digits(pixels: np.ndarray) -> np.ndarray:
    """The inverse of `digits_to_pixels`: uint8 pixels (..., 8, 8) back to int64 digits values in 0..16."""
    return np.rint((255 - np.asarray(pixels, dtype=np.float64)) * DIGITS_MAX / 255).astype(np.int64)


def write_digits_demo(dest: Path) -> Path:
    """Write the 1,797 digits as ``dest/train/<label>/<i>.bmp`` and ``dest/labels.txt`` once; return ``dest``.

    A complete demo already at ``dest`` is left alone. The tree is written into a temporary sibling folder
    and renamed into place, so an interrupted run never leaves a half-written ``dest``. Raises
    FileExistsError when ``dest`` exists, is not empty and is not a complete demo (nothing of it is deleted).
    """
    dest = Path(dest)
    digits = load_digits()
    expected = _expected_files(digits.target)
    if _is_complete(dest, expected):
        return dest
    if dest.exists() and not (dest.is_dir() and not any(dest.iterdir())):
        raise FileExistsError(
            f"{dest} exists but is not a complete digits demo; move or delete it, then run again"
        )
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}-", suffix=".partial", dir=dest.parent))
    try:
        _write_tree(tmp, digits_to_pixels(digits.images), digits.target)
        try:
            os.replace(tmp, dest)  # atomic; succeeds onto a missing or empty directory
        except OSError:
            if not _is_complete(dest, expected):  # not merely another writer finishing first
                raise
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)
    return dest


def is_complete_demo(dest: Path) -> bool:
    """True when ``dest`` holds the demo's labels.txt and exactly its class folders and file names."""
    return _is_complete(Path(dest), _expected_files(load_digits().target))


def _is_complete(dest: Path, expected: dict[str, set[str]]) -> bool:
    train = dest / "train"
    labels = dest / "labels.txt"
    if not (train.is_dir() and labels.is_file()) or labels.read_text(encoding="utf-8") != _labels_text():
        return False
    found = {d.name: {f.name for f in d.iterdir()} for d in train.iterdir() if d.is_dir()}
    return found == expected


def _expected_files(target: np.ndarray) -> dict[str, set[str]]:
    return {str(label): {f"{i}.bmp" for i in np.flatnonzero(target == label)} for label in np.unique(target)}


def _labels_text() -> str:
    return "".join(f"{d} {d}\n" for d in range(10))


def _write_tree(root: Path, pixels: np.ndarray, target: np.ndarray) -> None:
    """Write uint8 images (n, 8, 8) with labels (n,) as root/train/<label>/<i>.bmp, then root/labels.txt."""
    for label in np.unique(target):
        (root / "train" / str(label)).mkdir(parents=True)
    for i, (image, label) in enumerate(zip(pixels, target, strict=True)):
        Image.fromarray(image).save(root / "train" / str(label) / f"{i}.bmp", format="BMP")
    (root / "labels.txt").write_text(_labels_text(), encoding="utf-8")
