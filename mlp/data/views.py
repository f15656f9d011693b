"""What a network sees of an image: its raw pixels, or the character framed (scaled and centred into a box).

A view is a pure function of image rows, X (n, h*w) pixels -> (n, h*w) float32 pixels, looked up by name in
VIEWS. It is applied the same way in training (after the random distortions) and in prediction, so it is
saved with the model. Networks that look through different views make different mistakes, which is what an
ensemble of them gains from.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from mlp.data.distort import CHUNK_PIXELS, bilinear
from mlp.data.transforms import border_background
from mlp.registry import lookup

# The box a framed character fills: 22 of 28 pixels, the margin MNIST's digits have (20 of 28) and a little
# more of the image, measured on hanzi12 (EXPERIMENTS.md).
FRAME_FRACTION = 22 / 28


def frame(X: np.ndarray, image_shape: tuple[int, int], fraction: float = FRAME_FRACTION) -> np.ndarray:
    """Each image's ink scaled, keeping its aspect ratio, so that its longer side fills `fraction` of the
    image's shorter side, and centred: X (n, h*w) -> (n, h*w) float32. Ink is every pixel farther from the
    image's background (its border median) than half the image's largest such distance; an image without
    ink comes back unchanged. Takes out the size and place of the writing, which vary from writer to writer.
    """
    X = np.asarray(X)
    h, w = image_shape
    if X.ndim != 2 or X.shape[1] != h * w:
        raise ValueError(f"X must have shape (n, {h * w}) for images {image_shape}; got {X.shape}")
    if not 0 < fraction <= 1:
        raise ValueError(f"fraction must be in (0, 1], got {fraction!r}")
    out = np.empty(X.shape, np.float32)
    step = max(1, CHUNK_PIXELS // (h * w))
    for start in range(0, len(X), step):
        out[start:start + step] = _frame(X[start:start + step], h, w, fraction)
    return out


def _frame(X: np.ndarray, h: int, w: int, fraction: float) -> np.ndarray:
    """`frame` of one chunk of images."""
    n = len(X)
    images = X.reshape(n, h, w).astype(np.float32)
    background = border_background(X, (h, w)).astype(np.float32)
    distance = np.abs(images - background[:, None, None])
    ink = distance > 0.5 * distance.max(axis=(1, 2), keepdims=True)
    rows, cols = ink.any(axis=2), ink.any(axis=1)
    top, bottom = rows.argmax(axis=1), h - 1 - rows[:, ::-1].argmax(axis=1)
    left, right = cols.argmax(axis=1), w - 1 - cols[:, ::-1].argmax(axis=1)
    extent = np.maximum(bottom - top + 1, right - left + 1).astype(np.float32)
    zoom = np.float32(fraction * min(h, w)) / extent  # output pixels per source pixel
    out_rows, out_cols = np.divmod(np.arange(h * w, dtype=np.float32), np.float32(w))
    sy = ((top + bottom) / 2).astype(np.float32)[:, None] + (out_rows - (h - 1) / 2) / zoom[:, None]
    sx = ((left + right) / 2).astype(np.float32)[:, None] + (out_cols - (w - 1) / 2) / zoom[:, None]
    out = bilinear(images, background, sy.astype(np.float32), sx.astype(np.float32))
    blank = ~rows.any(axis=1)
    out[blank] = images[blank].reshape(-1, h * w)
    return out


def _raw(X: np.ndarray, image_shape: tuple[int, int]) -> np.ndarray:
    return np.asarray(X, np.float32)


View = Callable[[np.ndarray, tuple[int, int]], np.ndarray]
VIEWS: dict[str, View] = {
    "raw": _raw,  # the pixels as drawn
    "framed": frame,  # the character scaled and centred into a fixed box
}


def apply_view(name: str, X: np.ndarray, image_shape: tuple[int, int]) -> np.ndarray:
    """View `name` of the images X (n, h*w) -> (n, h*w) float32; an unknown name raises ValueError listing
    the valid ones."""
    return lookup(VIEWS, name, "view")(X, tuple(image_shape))
