"""Pure NumPy transforms of image rows: normalisation, shift augmentation, shuffling (the split: `split`).

Images are rows: X (n, h*w), raw uint8 pixels until normalised. Randomness comes only from the
``np.random.Generator`` passed in.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np


def check_rng(rng: Any) -> np.random.Generator:
    """rng itself when it is a numpy.random.Generator; else TypeError saying how to make one."""
    if not isinstance(rng, np.random.Generator):
        raise TypeError(f"rng must be a numpy.random.Generator (np.random.default_rng(0)); got {type(rng)}")
    return rng


def _check_rows(X: Any, name: str = "X") -> np.ndarray:
    X = np.asarray(X)
    if X.ndim != 2:
        raise ValueError(f"{name} must be 2-D (n_samples, n_features); got shape {X.shape}")
    return X


# -------------------------------------------------------------------------------------------- normalisation
@dataclass(frozen=True, eq=False)
class Normalizer:
    """``transform(X) = (X - mean) / std`` in float32; mean and std have shape (n_features,) or () (one value
    for every pixel). Fitted by ``fit_normalizer``; ``to_dict``/``from_dict`` round-trip it exactly."""

    mode: str
    n_features: int
    mean: np.ndarray
    std: np.ndarray

    def __post_init__(self):
        for name in ("mean", "std"):
            value = np.array(getattr(self, name), dtype=np.float32)
            if value.shape not in ((), (self.n_features,)):
                raise ValueError(f"{name} has shape {value.shape}; expected () or ({self.n_features},)")
            value.setflags(write=False)
            object.__setattr__(self, name, value)
        if not np.all(self.std > 0):
            raise ValueError("std must be positive everywhere")

    def transform(self, X: np.ndarray) -> np.ndarray:
        """X (n, n_features) raw pixels -> (n, n_features) float32."""
        X = _check_rows(X)
        if X.shape[1] != self.n_features:
            raise ValueError(f"X has {X.shape[1]} features; this normalizer was fitted on {self.n_features}")
        return (X.astype(np.float32) - self.mean) / self.std

    def inverse_transform(self, Z: np.ndarray) -> np.ndarray:
        """Z (n, n_features) normalised -> (n, n_features) float32 raw pixel values."""
        Z = _check_rows(Z, "Z")
        return np.asarray(Z, np.float32) * self.std + self.mean

    def to_dict(self) -> dict[str, Any]:
        """JSON-able: float32 values as Python floats, which read back to the same float32 bits."""
        return {
            "mode": self.mode,
            "n_features": self.n_features,
            "mean": self.mean.astype(np.float64).tolist(),
            "std": self.std.astype(np.float64).tolist(),
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Normalizer:
        """Rebuild from ``to_dict`` output."""
        if d.get("mode") not in NORMALIZERS:
            raise ValueError(f"unknown normalizer mode {d.get('mode')!r}; valid: {sorted(NORMALIZERS)}")
        return cls(d["mode"], int(d["n_features"]), np.asarray(d["mean"]), np.asarray(d["std"]))


def _per_pixel(X: np.ndarray, min_std: float) -> tuple[np.ndarray, np.ndarray]:
    return X.mean(axis=0), np.maximum(X.std(axis=0), min_std)


def _global(X: np.ndarray, min_std: float) -> tuple[np.ndarray, np.ndarray]:
    return np.asarray(X.mean()), np.asarray(max(X.std(), min_std))


def _unit(X: np.ndarray, min_std: float) -> tuple[np.ndarray, np.ndarray]:
    return np.asarray(0.0), np.asarray(255.0)  # uint8 pixels to [0, 1]


NORMALIZERS: dict[str, Callable[[np.ndarray, float], tuple[np.ndarray, np.ndarray]]] = {
    "per_pixel": _per_pixel,  # each pixel to mean 0, std 1 over the training rows
    "global": _global,  # one mean and std for all pixels
    "unit": _unit,  # x / 255
}


# 10% of the 0-255 range: |z| <= 10 for any uint8 pixel. Rarely inked pixels (std ~3 on hanzi12's border)
# would otherwise map ink to |z| of 80-255, and a pixel constant in training would divide by zero.
DEFAULT_MIN_STD = 25.5


def fit_normalizer(
    X_train: np.ndarray, mode: str = "per_pixel", *, min_std: float = DEFAULT_MIN_STD
) -> Normalizer:
    """Fit on X_train (n, n_features) raw pixels of the training split only (augmented or not, as the model
    will see them). ``min_std`` (pixel units) floors the deviation (see ``DEFAULT_MIN_STD``)."""
    if mode not in NORMALIZERS:
        raise ValueError(f"unknown normalization mode {mode!r}; valid: {sorted(NORMALIZERS)}")
    if not min_std > 0:
        raise ValueError(f"min_std must be > 0; got {min_std}")
    X = _check_rows(X_train, "X_train")
    if len(X) == 0:
        raise ValueError("cannot fit a normalizer on zero rows")
    mean, std = NORMALIZERS[mode](X.astype(np.float64), float(min_std))
    return Normalizer(mode, X.shape[1], mean, std)


class NormalizerFit:
    """`fit_normalizer` over a training set given in parts, never held whole: ``fit = NormalizerFit(mode)``,
    ``fit.add(X_part)`` for each part of raw pixels (k, n_features), then ``fit.result()``. Means and
    deviations are merged part by part in float64 (Chan et al.'s pairwise update), so the result equals
    ``fit_normalizer`` of the parts stacked within float rounding."""

    def __init__(self, mode: str = "per_pixel", *, min_std: float = DEFAULT_MIN_STD) -> None:
        if mode not in NORMALIZERS:
            raise ValueError(f"unknown normalization mode {mode!r}; valid: {sorted(NORMALIZERS)}")
        if not min_std > 0:
            raise ValueError(f"min_std must be > 0; got {min_std}")
        self.mode, self.min_std = mode, float(min_std)
        self.n_features: int | None = None
        self.count, self.mean, self.m2 = 0, np.zeros(()), np.zeros(())  # m2: sum of squared deviations

    def add(self, X_part: np.ndarray) -> None:
        """Take in one part of the training rows (k, n_features); a part of zero rows changes nothing."""
        X = _check_rows(X_part, "X_part")
        if self.n_features is None:
            self.n_features = X.shape[1]
        if X.shape[1] != self.n_features:
            raise ValueError(f"X_part has {X.shape[1]} features; the earlier parts had {self.n_features}")
        if len(X) == 0:
            return
        values = X.astype(np.float64)
        if self.mode == "global":
            values = values.reshape(-1, 1)
        count = len(values)
        mean = values.mean(axis=0)
        m2 = np.square(values - mean).sum(axis=0)
        total = self.count + count
        delta = mean - self.mean
        self.mean = self.mean + delta * (count / total)
        self.m2 = self.m2 + m2 + np.square(delta) * (self.count * count / total)
        self.count = total

    def result(self) -> Normalizer:
        """The normaliser of every row added; ValueError when none was."""
        if self.count == 0:
            raise ValueError("cannot fit a normalizer on zero rows")
        if self.mode == "unit":
            mean, std = _unit(np.empty((0, self.n_features)), self.min_std)
        else:
            mean, std = self.mean, np.maximum(np.sqrt(self.m2 / self.count), self.min_std)
            if self.mode == "global":
                mean, std = np.asarray(mean[0]), np.asarray(std[0])
        return Normalizer(self.mode, self.n_features, mean, std)


# --------------------------------------------------------------------------------------------- augmentation
SHIFTS: dict[str, tuple[int, int]] = {  # direction -> (rows, columns) the content moves, per unit distance
    "up": (-1, 0), "down": (1, 0), "left": (0, -1), "right": (0, 1),
    "up-left": (-1, -1), "up-right": (-1, 1), "down-left": (1, -1), "down-right": (1, 1),
}


def border_background(X: np.ndarray, image_shape: tuple[int, int]) -> np.ndarray:
    """Each image's background, X (n, h*w) -> (n,): the median of its border pixels (upper one on ties)."""
    h, w = image_shape
    images = _check_rows(X).reshape(-1, h, w)
    border = np.concatenate(
        [images[:, 0, :], images[:, -1, :], images[:, 1:-1, 0], images[:, 1:-1, -1]], axis=1
    )
    return np.quantile(border, 0.5, axis=1, method="higher").astype(X.dtype)


def shift_augment(
    X: np.ndarray,
    y: np.ndarray,
    image_shape: tuple[int, int],
    *,
    distance: int = 1,
    diagonal: bool = False,
    fill: int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """The originals, then each image shifted by ``distance`` pixels up, down, left, right (and the four
    diagonals if ``diagonal``): X (n, h*w) -> (5n or 9n, h*w), y (n,) -> (5n or 9n,), blocks in ``SHIFTS``
    order. Vacated pixels take ``fill`` (None: each image's border background), never wrapped around.
    Use on raw training pixels only, before normalising."""
    y = np.asarray(y)
    if y.shape != (len(X),):
        raise ValueError(f"y has shape {y.shape}; expected ({len(X)},)")
    blocks = shifted(X, image_shape, distance=distance, diagonal=diagonal, fill=fill)
    return blocks.reshape(-1, blocks.shape[2]), np.tile(y, len(blocks))


def shifted(X: np.ndarray, image_shape: tuple[int, int], *, distance: int = 1, diagonal: bool = False,
            fill: int | None = None) -> np.ndarray:
    """``shift_augment``'s images as blocks: X (n, h*w) -> (5 or 9, n, h*w), the originals first."""
    X = _check_rows(X)
    h, w = image_shape
    if X.shape[1] != h * w:
        raise ValueError(f"X has {X.shape[1]} features; image_shape {image_shape} needs {h * w}")
    is_int = isinstance(distance, (int, np.integer)) and not isinstance(distance, bool)
    if not (is_int and 1 <= distance < min(h, w)):
        raise ValueError(f"distance must be an int in [1, {min(h, w) - 1}] for {h}x{w} images: {distance!r}")
    if fill is None:
        background = border_background(X, image_shape)[:, None, None]
    elif np.can_cast(np.min_scalar_type(fill), X.dtype) or np.issubdtype(X.dtype, np.floating):
        background = np.asarray(fill, X.dtype)
    else:
        raise ValueError(f"fill {fill!r} does not fit the pixel type {X.dtype}")
    directions = list(SHIFTS.values())[: 8 if diagonal else 4]
    images = X.reshape(-1, h, w)
    out = np.empty((len(directions) + 1, *images.shape), X.dtype)
    out[0] = images
    for block, (dr, dc) in zip(out[1:], directions, strict=True):
        dr, dc = dr * distance, dc * distance
        block[...] = background
        rows_to, rows_from = slice(max(dr, 0), h + min(dr, 0)), slice(max(-dr, 0), h + min(-dr, 0))
        cols_to, cols_from = slice(max(dc, 0), w + min(dc, 0)), slice(max(-dc, 0), w + min(-dc, 0))
        block[:, rows_to, cols_to] = images[:, rows_from, cols_from]
    return out.reshape(len(out), -1, h * w)


# ------------------------------------------------------------------------------------------------- shuffle
def permutation(n: int, rng: np.random.Generator) -> np.ndarray:
    """A seeded permutation of range(n), (n,) int64."""
    return check_rng(rng).permutation(n)


def shuffle(*arrays: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, ...]:
    """The same seeded permutation of rows applied to every array (e.g. X (n, d) and y (n,))."""
    if not arrays:
        raise ValueError("shuffle needs at least one array")
    lengths = {len(a) for a in arrays}
    if len(lengths) != 1:
        raise ValueError(f"arrays must have the same number of rows; got {[len(a) for a in arrays]}")
    order = permutation(lengths.pop(), rng)
    return tuple(np.asarray(a)[order] for a in arrays)
