"""mlp.data.views: the raw view and the framed one (each character scaled and centred into a box)."""

from __future__ import annotations

import numpy as np
import pytest

from mlp.data.views import FRAME_FRACTION, VIEWS, apply_view, frame


def ink_box(image: np.ndarray, threshold: float = 128) -> tuple[int, int, int, int]:
    """(top, bottom, left, right) of the pixels darker than `threshold` in one (h, w) image."""
    ink = image < threshold
    rows, cols = np.flatnonzero(ink.any(axis=1)), np.flatnonzero(ink.any(axis=0))
    return rows[0], rows[-1], cols[0], cols[-1]


def canvas(shape=(20, 20)) -> np.ndarray:
    return np.full(shape, 255, np.uint8)


def test_a_block_of_ink_is_scaled_to_the_box_and_centred():
    image = canvas()
    image[3:7, 10:16] = 0  # 4 rows by 6 columns, up and to the right
    out = frame(image.reshape(1, -1), (20, 20), fraction=0.5)[0].reshape(20, 20)
    top, bottom, left, right = ink_box(out)
    assert (left, right) == (5, 14)  # the longer side, 6 pixels, now spans 10 (half of 20), centred
    assert (top, bottom) == (7, 12)  # the shorter side keeps its proportion: 4 * 10/6 = 6.7 pixels
    assert out.dtype == np.float32 and out.min() == 0 and out.max() == 255


def test_the_same_character_anywhere_frames_the_same():
    glyph = np.array([[0, 255, 0], [0, 0, 0], [255, 0, 255]], np.uint8)
    placed = []
    for r, c in [(2, 3), (11, 9), (0, 0)]:
        image = canvas()
        image[r:r + 3, c:c + 3] = glyph
        placed.append(image.ravel())
    out = frame(np.stack(placed), (20, 20))
    np.testing.assert_allclose(out[1], out[0], atol=1e-3)
    np.testing.assert_allclose(out[2], out[0], atol=1e-3)
    _, _, left, right = ink_box(out[0].reshape(20, 20))
    assert right - left + 1 == pytest.approx(FRAME_FRACTION * 20, abs=1.5)


def test_an_image_without_ink_comes_back_unchanged_and_white_on_black_works_too():
    blank = canvas().ravel()
    dark = 255 - canvas()
    dark[5:8, 5:8] = 255  # white ink on black
    out = frame(np.stack([blank, dark.ravel()]), (20, 20))
    np.testing.assert_array_equal(out[0], blank.astype(np.float32))
    top, bottom, left, right = ink_box(255 - out[1].reshape(20, 20))
    assert bottom - top + 1 >= 14 and right - left + 1 >= 14  # 3 pixels scaled to ~15.7


def test_framing_hanzi12_fills_the_box(hanzi12_root):
    from PIL import Image

    files = sorted((hanzi12_root / "train" / "6").glob("*.bmp"))[:50]
    X = np.stack([np.asarray(Image.open(f).convert("L")).ravel() for f in files])
    out = frame(X, (28, 28)).reshape(-1, 28, 28)
    sides = [max(b - t + 1, r - lft + 1) for t, b, lft, r in map(ink_box, out)]
    assert np.median(sides) == pytest.approx(22, abs=1)  # the longer side fills 22 of 28 pixels


def test_views_by_name():
    X = np.stack([canvas((4, 4)).ravel()])
    assert set(VIEWS) == {"raw", "framed"}
    np.testing.assert_array_equal(apply_view("raw", X, (4, 4)), X.astype(np.float32))
    with pytest.raises(ValueError, match="unknown view 'flipped'; valid: framed, raw"):
        apply_view("flipped", X, (4, 4))
    with pytest.raises(ValueError, match=r"shape \(n, 9\)"):
        frame(X, (3, 3))
    with pytest.raises(ValueError, match="fraction"):
        frame(X, (4, 4), fraction=0)
