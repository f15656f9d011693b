"""Random distortions of images, drawn afresh for every epoch: affine (rotation, scale, shear, translation)
and optionally elastic (Simard, Steinkraus & Platt 2003), in vectorised NumPy.

Every output pixel is sampled from the source image at a distorted position, by bilinear interpolation;
positions outside the image read the image's background (its border median, see
``transforms.border_background``). Images are rows, X (n, h*w); randomness comes only from the
``np.random.Generator`` passed in, so a seed gives the same images on every machine.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from mlp.data.transforms import border_background, check_rng
from mlp.hyper import DISTORTION, check_fields

# Pixels distorted at once (256 images of 32x32): the temporaries stay in cache, which makes the gathers
# three times faster than over the whole set. The draws are made chunk by chunk, so they depend on it.
CHUNK_PIXELS = 2**18


@dataclass(frozen=True)
class Distortion:
    """The ranges each image's distortion is drawn from, uniformly and independently per image.

    rotate: degrees, ±. scale: each axis is stretched by a factor in [1 − scale, 1 + scale]. shear: the
    slope, ±, that horizontal strokes take on (each column moves up or down in proportion to its distance from
    the centre; vertical strokes stay vertical), as handwritten horizontals rise or fall. translate: a shift
    of up to this fraction of the height and of the width.
    elastic_alpha, elastic_sigma: Simard's elastic distortion, a field of uniform random displacements in
    [−1, 1] smoothed by a Gaussian of ``elastic_sigma`` pixels and scaled by ``elastic_alpha`` pixels (their
    paper: 34 and 4 on 28×28 digits); alpha 0 turns it off. All zero: the identity. Each field's default and
    range are declared in `mlp.hyper.DISTORTION`.
    """

    rotate: float = DISTORTION.rotate.default
    scale: float = DISTORTION.scale.default
    shear: float = DISTORTION.shear.default
    translate: float = DISTORTION.translate.default
    elastic_alpha: float = DISTORTION.elastic_alpha.default
    elastic_sigma: float = DISTORTION.elastic_sigma.default

    def __post_init__(self) -> None:
        check_fields(self, DISTORTION)  # each range through its declaration (mlp.hyper.DISTORTION)

    def to_dict(self) -> dict[str, float]:
        """JSON-able; ``Distortion(**d.to_dict()) == d``."""
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Distortion:
        """The inverse of ``to_dict``; unknown keys raise ValueError naming them and the valid ones."""
        unknown = set(d) - set(cls.__dataclass_fields__)
        if unknown:
            raise ValueError(f"unknown Distortion fields {sorted(unknown)}; valid: "
                             f"{', '.join(cls.__dataclass_fields__)}")
        return cls(**d)


def distort(X: np.ndarray, image_shape: tuple[int, int], rng: np.random.Generator,
            distortion: Distortion = Distortion(), *, fill: float | None = None) -> np.ndarray:
    """Each image distorted by its own random draw: X (n, h*w) pixels -> (n, h*w) float32 in the same units.

    ``fill`` is what lies outside the image (None: each image's border background)."""
    X = np.asarray(X)
    h, w = image_shape
    if X.ndim != 2 or X.shape[1] != h * w:
        raise ValueError(f"X must have shape (n, {h * w}) for images {image_shape}; got {X.shape}")
    rng = check_rng(rng)
    out = np.empty(X.shape, np.float32)
    step = max(1, CHUNK_PIXELS // (h * w))
    for start in range(0, len(X), step):
        chunk = X[start:start + step]
        n = len(chunk)
        sy, sx = _affine_positions(n, h, w, rng, distortion)
        if distortion.elastic_alpha:
            dy, dx = _elastic_field(n, h, w, rng, distortion.elastic_alpha, distortion.elastic_sigma)
            sy += dy
            sx += dx
        background = border_background(chunk, image_shape) if fill is None else np.full(n, fill)
        out[start:start + n] = bilinear(chunk.reshape(n, h, w), background.astype(np.float32), sy, sx)
    return out


def _affine_positions(n: int, h: int, w: int, rng: np.random.Generator,
                      d: Distortion) -> tuple[np.ndarray, np.ndarray]:
    """Where each output pixel reads from: (n, h*w) row and column positions, float32.

    Around the image's centre c, the source of output pixel p is A·(p − c) + c − t, with
    A = rotation · shear · scale; each image draws its own angle, scales, shear and shift t."""
    angle = np.deg2rad(rng.uniform(-d.rotate, d.rotate, n))
    scale = rng.uniform(1.0 - d.scale, 1.0 + d.scale, (n, 2))
    shear = rng.uniform(-d.shear, d.shear, n)
    shift = rng.uniform(-d.translate, d.translate, (n, 2)) * (h, w)
    cos, sin = np.cos(angle), np.sin(angle)
    # A = [[cos, -sin], [sin, cos]] @ [[1, shear], [0, 1]] @ diag(1/scale_row, 1/scale_col)
    A = np.empty((n, 2, 3), np.float32)
    A[:, 0, 0], A[:, 0, 1] = cos / scale[:, 0], (cos * shear - sin) / scale[:, 1]
    A[:, 1, 0], A[:, 1, 1] = sin / scale[:, 0], (sin * shear + cos) / scale[:, 1]
    centre = np.array([(h - 1) / 2, (w - 1) / 2])
    A[:, :, 2] = centre - shift - np.einsum("nij,j->ni", A[:, :, :2].astype(np.float64), centre)
    rows, cols = np.divmod(np.arange(h * w, dtype=np.float32), np.float32(w))
    grid = np.stack([rows, cols, np.ones_like(rows)])  # (3, h*w): homogeneous output positions
    positions = A @ grid  # (n, 2, h*w)
    return positions[:, 0], positions[:, 1]


def _gaussian_matrix(size: int, sigma: float) -> np.ndarray:
    """(size, size) float32: row i is a Gaussian of ``sigma`` around i, normalised to sum 1 (so the edges
    see a renormalised kernel)."""
    i = np.arange(size)
    G = np.exp(-0.5 * ((i[:, None] - i[None, :]) / sigma) ** 2)
    return (G / G.sum(axis=1, keepdims=True)).astype(np.float32)


def _elastic_field(n: int, h: int, w: int, rng: np.random.Generator, alpha: float,
                   sigma: float) -> tuple[np.ndarray, np.ndarray]:
    """Simard's displacement fields, (n, h*w) rows and columns: alpha · (G_h @ U @ G_wᵀ) with U uniform in
    [−1, 1] (n, h, w) per axis; the smoothing is two matrix products, not a convolution per image."""
    field = rng.uniform(-1.0, 1.0, (2 * n, h, w)).astype(np.float32)
    field = _gaussian_matrix(h, sigma) @ field @ _gaussian_matrix(w, sigma).T
    field *= np.float32(alpha)
    return field[:n].reshape(n, h * w), field[n:].reshape(n, h * w)


def bilinear(images: np.ndarray, background: np.ndarray, sy: np.ndarray, sx: np.ndarray) -> np.ndarray:
    """Sample images (n, h, w) at positions (n, h*w) by bilinear interpolation, the world outside each image
    being its `background` (n,). The images are framed by background pixels, one above and left, two below
    and right, so a position clipped into the frame has its four neighbours inside it. The four neighbours
    are read with `np.take` from the flat frames (a gather per neighbour is the bulk of the time)."""
    n, h, w = images.shape
    framed = np.empty((n, h + 3, w + 3), np.float32)
    framed[...] = background[:, None, None]
    framed[:, 1:h + 1, 1:w + 1] = images
    sy += 1.0  # into framed coordinates
    sx += 1.0
    np.clip(sy, 0.0, h + 1, out=sy)
    np.clip(sx, 0.0, w + 1, out=sx)
    y0, x0 = sy.astype(np.int32), sx.astype(np.int32)
    sy -= y0  # now the fractional parts
    sx -= x0
    width = w + 3
    index = y0
    index *= width
    index += x0
    index += (np.arange(n, dtype=np.int32) * ((h + 3) * width))[:, None]
    flat = framed.reshape(-1)
    upper_left = flat.take(index)
    top = flat.take(index + 1)  # upper right, then the top edge's value
    top -= upper_left
    top *= sx
    top += upper_left
    index += width
    lower_left = flat.take(index)
    out = flat.take(index + 1)
    out -= lower_left
    out *= sx
    out += lower_left
    out -= top
    out *= sy
    out += top
    return out
