"""mlp.data.distort: random affine and elastic distortions, checked against SciPy's bilinear sampling at
positions computed here pixel by pixel from the same random draws."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.ndimage import map_coordinates

from mlp.data.distort import CHUNK_PIXELS, Distortion, distort

SHAPE = (9, 7)


def images(n: int = 5, seed: int = 0) -> np.ndarray:
    """n random 9×7 uint8 images on a white border (the background distort fills in)."""
    X = np.random.default_rng(seed).integers(0, 256, (n, *SHAPE)).astype(np.uint8)
    X[:, [0, -1], :] = 255
    X[:, :, [0, -1]] = 255
    return X.reshape(n, -1)


def expected(X: np.ndarray, d: Distortion, seed: int, fill=(255.0,) * 5) -> np.ndarray:
    """The distortion computed the slow way: the same draws in the same order, each output pixel's source
    position by the formula, then SciPy's linear interpolation with image k's outside filled by fill[k]."""
    rng = np.random.default_rng(seed)
    n, (h, w) = len(X), SHAPE
    angle = np.deg2rad(rng.uniform(-d.rotate, d.rotate, n))
    scale = rng.uniform(1 - d.scale, 1 + d.scale, (n, 2))
    shear = rng.uniform(-d.shear, d.shear, n)
    shift = rng.uniform(-d.translate, d.translate, (n, 2)) * (h, w)
    field = np.zeros((2, n, h, w))
    if d.elastic_alpha:
        noise = rng.uniform(-1, 1, (2 * n, h, w)).astype(np.float32)
        field = d.elastic_alpha * smooth(noise, d.elastic_sigma).reshape(2, n, h, w)
    centre = np.array([(h - 1) / 2, (w - 1) / 2])
    out = np.empty((n, h, w))
    for k in range(n):
        rotation = np.array([[np.cos(angle[k]), -np.sin(angle[k])], [np.sin(angle[k]), np.cos(angle[k])]])
        A = rotation @ np.array([[1, shear[k]], [0, 1]]) @ np.diag(1 / scale[k])
        rows, cols = np.mgrid[0:h, 0:w]
        source = np.einsum("ij,jrc->irc", A, np.stack([rows, cols]) - centre[:, None, None])
        source += (centre - shift[k])[:, None, None] + field[:, k]
        out[k] = map_coordinates(X[k].reshape(h, w).astype(float), source, order=1, mode="grid-constant",
                                 cval=fill[k])
    return out.reshape(n, -1)


def smooth(noise: np.ndarray, sigma: float) -> np.ndarray:
    """Each (h, w) field convolved with a Gaussian of `sigma`, the kernel renormalised where it leaves the
    image: a weighted mean over all pixels, written as a loop."""
    _, h, w = noise.shape
    out = np.empty(noise.shape)
    for r in range(h):
        for c in range(w):
            weight = np.exp(-0.5 * ((np.arange(h)[:, None] - r) ** 2 + (np.arange(w)[None, :] - c) ** 2)
                            / sigma**2)
            row_norm = np.exp(-0.5 * ((np.arange(h) - r) / sigma) ** 2).sum()
            col_norm = np.exp(-0.5 * ((np.arange(w) - c) / sigma) ** 2).sum()
            out[:, r, c] = (noise * weight).sum(axis=(1, 2)) / (row_norm * col_norm)
    return out


@pytest.mark.parametrize("distortion", [
    Distortion(),
    Distortion(rotate=30, scale=0.3, shear=0.5, translate=0.3),  # far enough to reach outside the image
    Distortion(rotate=0, scale=0, shear=0, translate=0.2),
    Distortion(elastic_alpha=8, elastic_sigma=2),
])
def test_matches_the_formula_and_scipys_interpolation(distortion):
    X = images()
    out = distort(X, SHAPE, np.random.default_rng(3), distortion)
    assert out.dtype == np.float32 and out.shape == X.shape
    np.testing.assert_allclose(out, expected(X, distortion, seed=3), atol=2e-3)


def test_no_distortion_is_the_identity():
    X = images()
    still = Distortion(rotate=0, scale=0, shear=0, translate=0)
    np.testing.assert_array_equal(distort(X, SHAPE, np.random.default_rng(0), still), X.astype(np.float32))


def test_shear_tilts_horizontal_strokes_and_keeps_vertical_ones_upright():
    h, w = 21, 21
    strokes = np.full((2, h, w), 255, np.uint8)
    strokes[0, 10, 3:18] = 0  # a horizontal stroke through the centre
    strokes[1, 3:18, 10] = 0  # a vertical one
    sheared = Distortion(rotate=0, scale=0, shear=0.5, translate=0)  # drawn in [-0.5, 0.5]
    out = distort(strokes.reshape(2, -1), (h, w), np.random.default_rng(2), sheared).reshape(2, h, w)
    ink_row = [np.argmin(out[0, :, c]) for c in (4, 16)]  # where the horizontal stroke lies, left and right
    assert abs(ink_row[0] - ink_row[1]) >= 2  # it now rises or falls across the image
    assert (out[1, :, 10] < 128).sum() >= 13 and (out[1, :, [8, 12]] < 128).sum() == 0  # still upright


def test_outside_the_image_is_each_images_border_background_or_fill():
    X = images(2)
    X[1] = 255 - X[1]  # the second image on black
    far = Distortion(rotate=0, scale=0, shear=0, translate=0.99)
    out = distort(X, SHAPE, np.random.default_rng(1), far)
    np.testing.assert_allclose(out, expected(X, far, seed=1, fill=(255, 0)), atol=2e-3)
    # Shifted almost a whole image away, most pixels read the outside: white for one, black for the other.
    assert np.median(out[0]) == 255 and np.median(out[1]) == 0
    filled = distort(X, SHAPE, np.random.default_rng(1), far, fill=7)
    np.testing.assert_allclose(filled, expected(X, far, seed=1, fill=(7, 7)), atol=2e-3)


def test_seeded_fresh_draws_and_the_input_untouched():
    chunk = CHUNK_PIXELS // (SHAPE[0] * SHAPE[1])
    X = images(3 * chunk)  # three chunks
    before = X.copy()
    a = distort(X, SHAPE, np.random.default_rng(5))
    b = distort(X, SHAPE, np.random.default_rng(5))
    c = distort(X, SHAPE, np.random.default_rng(6))
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    np.testing.assert_array_equal(X, before)
    # Chunk by chunk: the first chunk's images draw what they draw alone; the next chunk draws anew.
    np.testing.assert_array_equal(distort(X[:chunk], SHAPE, np.random.default_rng(5)), a[:chunk])
    assert not np.array_equal(a[:chunk], a[chunk:2 * chunk])


def test_bad_input():
    with pytest.raises(ValueError, match=r"shape \(n, 63\)"):
        distort(images()[:, :10], SHAPE, np.random.default_rng(0))
    with pytest.raises(TypeError, match="Generator"):
        distort(images(), SHAPE, 0)
    for name, value in [("rotate", -1), ("rotate", 180), ("scale", 1.0), ("shear", float("nan")),
                        ("translate", True), ("elastic_alpha", -1.0), ("elastic_sigma", 0)]:
        with pytest.raises(ValueError, match=f"{name} must be a finite number"):
            Distortion(**{name: value})


def test_to_dict_round_trip():
    d = Distortion(rotate=12.5, elastic_alpha=20)
    assert Distortion.from_dict(d.to_dict()) == d
    with pytest.raises(ValueError, match=r"unknown Distortion fields.*valid: rotate, scale"):
        Distortion.from_dict({"angle": 3})
