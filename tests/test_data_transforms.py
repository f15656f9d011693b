"""mlp.data.transforms: normalisation, shift augmentation, shuffling."""

from __future__ import annotations

import json

import numpy as np
import pytest

from mlp.data import transforms
from mlp.data.split import stratified_split

# ----------------------------------------------------------------------------------------- normalisation


def test_per_pixel_statistics_come_from_the_training_rows_only():
    rng = np.random.default_rng(0)
    X = rng.integers(0, 256, (40, 5)).astype(np.uint8)
    X[:, 3] = 255  # a constant pixel
    train, val = X[:30], X[30:]
    norm = transforms.fit_normalizer(train, "per_pixel", min_std=2.0)
    expected_mean = train.astype(np.float64).mean(axis=0)
    np.testing.assert_allclose(norm.mean, expected_mean, rtol=1e-6)
    assert norm.std[3] == 2.0 and norm.mean[3] == 255.0
    Z = norm.transform(train)
    assert Z.dtype == np.float32 and Z.shape == train.shape
    np.testing.assert_allclose(Z[:, [0, 1, 2, 4]].mean(axis=0), 0, atol=1e-5)
    np.testing.assert_allclose(Z[:, [0, 1, 2, 4]].std(axis=0), 1, atol=1e-5)
    assert not np.allclose(norm.mean, X.astype(np.float64).mean(axis=0))  # val rows not used
    np.testing.assert_allclose(norm.inverse_transform(norm.transform(val)), val, atol=1e-3)


def test_default_floor_bounds_every_z_score():
    X = np.full((500, 6), 255, np.uint8)
    X[0, :3] = 0  # pixels inked once: std ~11 of 255, below the floor
    norm = transforms.fit_normalizer(X)
    assert (norm.std >= transforms.DEFAULT_MIN_STD).all()
    extreme = np.array([[0] * 6, [255] * 6], np.uint8)
    assert np.abs(norm.transform(extreme)).max() <= 255 / transforms.DEFAULT_MIN_STD + 1e-5
    assert np.abs(transforms.fit_normalizer(X, min_std=1e-3).transform(extreme)).max() > 1000


def test_global_and_unit_modes():
    X = np.array([[0, 255], [255, 255]], np.uint8)
    unit = transforms.fit_normalizer(X, "unit")
    np.testing.assert_array_equal(unit.transform(X), X / np.float32(255))
    glob = transforms.fit_normalizer(X, "global")
    assert glob.mean.shape == () and glob.mean == pytest.approx(191.25)
    assert glob.std == pytest.approx(np.std([0.0, 255, 255, 255]))


def test_normalizer_round_trips_exactly_through_json():
    X = np.random.default_rng(3).integers(0, 256, (17, 9)).astype(np.uint8)
    for mode in transforms.NORMALIZERS:
        norm = transforms.fit_normalizer(X, mode)
        back = transforms.Normalizer.from_dict(json.loads(json.dumps(norm.to_dict())))
        assert back.mode == mode and back.n_features == 9
        np.testing.assert_array_equal(back.mean, norm.mean)
        np.testing.assert_array_equal(back.std, norm.std)
        np.testing.assert_array_equal(back.transform(X), norm.transform(X))  # bit for bit


def test_normalizer_bad_input():
    X = np.zeros((3, 4), np.uint8)
    with pytest.raises(ValueError, match=r"unknown normalization mode 'zscore'.*per_pixel"):
        transforms.fit_normalizer(X, "zscore")
    with pytest.raises(ValueError, match="min_std"):
        transforms.fit_normalizer(X, min_std=0)
    with pytest.raises(ValueError, match="zero rows"):
        transforms.fit_normalizer(X[:0])
    norm = transforms.fit_normalizer(X)
    with pytest.raises(ValueError, match="fitted on 4"):
        norm.transform(np.zeros((2, 5)))
    with pytest.raises(ValueError, match="unknown normalizer mode"):
        transforms.Normalizer.from_dict({**norm.to_dict(), "mode": "nope"})
    with pytest.raises(ValueError, match="std must be positive"):
        transforms.Normalizer("global", 4, np.float32(0), np.float32(0))
    with pytest.raises(ValueError, match="read-only"):
        norm.mean[0] = 1


# ------------------------------------------------------------------------------------------ augmentation

IMAGE = np.array(  # 3x4, ink (0) touching the top, left and right borders; background 255
    [
        [0, 255, 255, 9],
        [255, 7, 255, 255],
        [0, 255, 255, 255],
    ],
    np.uint8,
)


def shifted(image: np.ndarray, dr: int, dc: int, fill: int) -> np.ndarray:
    """The reference shift, pixel by pixel: out[r, c] = image[r - dr, c - dc] where that exists, else fill."""
    h, w = image.shape
    out = np.full_like(image, fill)
    for r in range(h):
        for c in range(w):
            if 0 <= r - dr < h and 0 <= c - dc < w:
                out[r, c] = image[r - dr, c - dc]
    return out


def test_one_pixel_shifts_fill_with_background_and_never_wrap():
    X_aug, y_aug = transforms.shift_augment(IMAGE.reshape(1, -1), np.array([4]), (3, 4))
    blocks = X_aug.reshape(5, 3, 4)
    assert y_aug.tolist() == [4] * 5
    np.testing.assert_array_equal(blocks[0], IMAGE)
    for block, (dr, dc) in zip(blocks[1:], [(-1, 0), (1, 0), (0, -1), (0, 1)], strict=True):
        np.testing.assert_array_equal(block, shifted(IMAGE, dr, dc, 255))
    left = blocks[3]
    assert left[:, -1].tolist() == [255, 255, 255]  # vacated column: background, not the wrapped ink
    assert left[0, 2] == 9  # the ink that touched the right border moved in


def test_diagonal_distance_and_explicit_fill():
    X = np.stack([IMAGE.ravel(), 255 - IMAGE.ravel()])
    X_aug, y_aug = transforms.shift_augment(X, np.array([0, 1]), (3, 4), distance=2, diagonal=True, fill=128)
    assert X_aug.shape == (18, 12) and y_aug.tolist() == [0, 1] * 9
    directions = list(transforms.SHIFTS.values())
    for k, (dr, dc) in enumerate(directions, start=1):
        for i in range(2):
            want = shifted(X[i].reshape(3, 4), 2 * dr, 2 * dc, 128)
            np.testing.assert_array_equal(X_aug[2 * k + i].reshape(3, 4), want)


def test_background_is_inferred_per_image():
    dark = np.zeros((3, 4), np.uint8)
    dark[1, 1] = 200  # white ink on black
    X = np.stack([IMAGE.ravel(), dark.ravel()])
    assert transforms.border_background(X, (3, 4)).tolist() == [255, 0]
    X_aug, _ = transforms.shift_augment(X, np.array([0, 0]), (3, 4))
    np.testing.assert_array_equal(X_aug[3].reshape(3, 4), shifted(dark, -1, 0, 0))


def test_augmenting_train_leaves_validation_and_input_untouched():
    rng = np.random.default_rng(0)
    X = rng.integers(0, 256, (20, 12)).astype(np.uint8)
    y = np.arange(20) % 2
    copy = X.copy()
    split = stratified_split(y, np.arange(20).astype(str), val_fraction=0.3, rng=rng)
    X_aug, y_aug = transforms.shift_augment(X[split.train], y[split.train], (3, 4))
    assert len(X_aug) == 5 * len(split.train) and len(split.val) == 6
    np.testing.assert_array_equal(y_aug, np.tile(y[split.train], 5))
    np.testing.assert_array_equal(X, copy)
    np.testing.assert_array_equal(X_aug[: len(split.train)], X[split.train])


def test_shift_bad_input():
    X, y = IMAGE.reshape(1, -1), np.array([0])
    for distance in (0, 3, 1.0, True):
        with pytest.raises(ValueError, match="distance"):
            transforms.shift_augment(X, y, (3, 4), distance=distance)
    with pytest.raises(ValueError, match="image_shape"):
        transforms.shift_augment(X, y, (4, 4))
    with pytest.raises(ValueError, match="y has shape"):
        transforms.shift_augment(X, np.array([0, 1]), (3, 4))
    for fill in (-1, 256):
        with pytest.raises(ValueError, match="fill"):
            transforms.shift_augment(X, y, (3, 4), fill=fill)


# ----------------------------------------------------------------------------------------------- shuffle


def test_shuffle_keeps_rows_aligned_and_is_seeded():
    y = np.arange(50)
    X = np.stack([y * 10, y * 10 + 1], axis=1)
    Xs, ys = transforms.shuffle(X, y, rng=np.random.default_rng(5))
    assert not np.array_equal(ys, y) and sorted(ys.tolist()) == y.tolist()
    np.testing.assert_array_equal(Xs[:, 0], ys * 10)
    Xs2, ys2 = transforms.shuffle(X, y, rng=np.random.default_rng(5))
    np.testing.assert_array_equal(ys2, ys)
    np.testing.assert_array_equal(Xs2, Xs)
    np.testing.assert_array_equal(transforms.permutation(50, np.random.default_rng(5)), ys)


def test_shuffle_bad_input():
    with pytest.raises(ValueError, match="same number of rows"):
        transforms.shuffle(np.zeros((3, 2)), np.zeros(4), rng=np.random.default_rng(0))
    with pytest.raises(TypeError, match="Generator"):
        transforms.shuffle(np.zeros(3), rng=np.random.RandomState(0))


@pytest.mark.parametrize("mode", ["per_pixel", "global", "unit"])
def test_a_normalizer_fitted_part_by_part_equals_the_one_fitted_whole(mode):
    rng = np.random.default_rng(3)
    X = rng.integers(0, 256, (1003, 49), dtype=np.uint8)
    X[:, :5] = 255  # constant pixels: floored at min_std alike
    whole = transforms.fit_normalizer(X, mode)
    fit = transforms.NormalizerFit(mode)
    for start, stop in [(0, 1), (1, 400), (400, 400), (400, 1003)]:  # uneven parts, one empty
        fit.add(X[start:stop])
    parts = fit.result()
    assert (parts.mode, parts.n_features) == (whole.mode, whole.n_features)
    np.testing.assert_allclose(parts.mean, whole.mean, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(parts.std, whole.std, rtol=1e-6, atol=1e-6)


def test_a_normalizer_fitted_by_parts_names_bad_input():
    with pytest.raises(ValueError, match="unknown normalization mode 'z'"):
        transforms.NormalizerFit("z")
    fit = transforms.NormalizerFit()
    with pytest.raises(ValueError, match="cannot fit a normalizer on zero rows"):
        fit.result()
    fit.add(np.zeros((2, 4), np.uint8))
    with pytest.raises(ValueError, match="X_part has 3 features; the earlier parts had 4"):
        fit.add(np.zeros((2, 3), np.uint8))
