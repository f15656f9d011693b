"""Decoding image files with Pillow to 8-bit grayscale arrays, and hashing their bytes."""

from __future__ import annotations

import hashlib
import io
import os
import re
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from PIL import Image, UnidentifiedImageError

Shape = tuple[int, int]

# What Pillow raises on a corrupt, truncated or unknown file (UnidentifiedImageError is an OSError).
DECODE_ERRORS = (OSError, ValueError, SyntaxError, EOFError, Image.DecompressionBombError)


@dataclass(frozen=True)
class Decoded:
    """One file's outcome: pixels (height, width) uint8 and sha256 of the bytes, or the reason it failed."""

    pixels: np.ndarray | None
    sha256: str
    source_shape: Shape | None  # (height, width) of the file before any resize
    error: str | None = None


def check_shape(shape: Sequence[int] | None, name: str = "resize") -> Shape | None:
    """Validate an image shape option: None, or (height, width) of positive ints."""
    if shape is None:
        return None
    ok = (
        isinstance(shape, (tuple, list))
        and len(shape) == 2
        and all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) and v > 0 for v in shape)
    )
    if not ok:
        raise ValueError(f"{name} must be None or (height, width) with positive ints; got {shape!r}")
    return int(shape[0]), int(shape[1])


# Integer modes of more than 8 bits: Pillow's convert("L") clips them at 255 instead of scaling them.
_WIDE_MODES = ("I;16", "I;16L", "I;16B", "I;16N", "I")


def to_gray(image: Image.Image) -> Image.Image:
    """8-bit grayscale ``L``: 1-bit becomes 0/255, 16-bit grayscale keeps its top 8 bits, colour and palette
    go through Pillow's luma conversion, and transparent pixels are composited onto white first.

    Raises ValueError for floating-point images (mode ``F``), whose scale a file does not say."""
    if image.mode == "L":
        return image
    if image.mode in _WIDE_MODES:  # "I" is how some formats open 16-bit grayscale: read as 0..65535
        wide = np.clip(np.asarray(image, dtype=np.int64), 0, 65535)
        return Image.fromarray((wide >> 8).astype(np.uint8), "L")
    if image.mode == "F":
        raise ValueError("32-bit floating-point pixels are not supported: save the image with 8 or 16 bits")
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, rgba).convert("L")
    return image.convert("L")


def decode_bytes(data: bytes, resize: Shape | None = None) -> tuple[np.ndarray, Shape]:
    """Decode an image file's bytes to (pixels (height, width) uint8, source (height, width)).

    Raises one of ``DECODE_ERRORS`` when Pillow cannot read it."""
    with Image.open(io.BytesIO(data)) as image:
        source = (image.height, image.width)
        gray = to_gray(image)
        if resize is not None and source != resize:
            gray = gray.resize((resize[1], resize[0]), Image.Resampling.LANCZOS)
        return np.asarray(gray, dtype=np.uint8), source


def read_file(path: str | os.PathLike, resize: Shape | None = None) -> Decoded:
    """Read, hash and decode one file; a decoding failure is returned as ``Decoded.error``, not raised
    (an OS error reading the file, e.g. permission denied, is reported the same way, and so is an image
    Pillow takes for a decompression bomb: its warning is caught, never printed)."""
    try:
        with open(path, "rb") as handle:
            data = handle.read()
    except OSError as exc:
        return Decoded(None, "", None, f"cannot read file: {exc.strerror or exc}")
    digest = hashlib.sha256(data).hexdigest()
    try:
        with warnings.catch_warnings():  # one file's bomb warning becomes its reason, never a printed warning
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            pixels, source = decode_bytes(data, resize)
    except (Image.DecompressionBombWarning, Image.DecompressionBombError) as exc:
        return Decoded(None, digest, None, _bomb_reason(exc))
    except UnidentifiedImageError:  # its message names Pillow's in-memory buffer, not the file
        return Decoded(None, digest, None, "not a readable image: Pillow does not recognise its format")
    except DECODE_ERRORS as exc:
        return Decoded(None, digest, None, f"not a readable image: {type(exc).__name__}: {exc}")
    return Decoded(pixels, digest, source)


def _bomb_reason(exc: Exception) -> str:
    """The reason for an image Pillow refuses as a possible decompression bomb (more pixels than
    ``Image.MAX_IMAGE_PIXELS``, 89,478,485 by default)."""
    found = re.search(r"\((\d+) pixels\)", str(exc))
    size = f"{int(found.group(1))} pixels" if found else "more pixels than Pillow's limit"
    return f"image too large: {size} (decompression bomb guard)"
