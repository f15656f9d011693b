"""mlp.data.images: Pillow decoding to 8-bit grayscale, hashing, shape options."""

from __future__ import annotations

import hashlib
import io

import numpy as np
import pytest
from PIL import Image

from mlp.data import images
from tests.data_trees import glyph, save_1bit, save_palette, save_rgb


def test_one_bit_decodes_to_0_and_255(tmp_path):
    pixels = save_1bit(tmp_path / "a.bmp", glyph(1))
    with Image.open(tmp_path / "a.bmp") as image:
        assert image.mode == "1"
    decoded = images.read_file(tmp_path / "a.bmp")
    assert decoded.error is None and decoded.pixels.dtype == np.uint8
    np.testing.assert_array_equal(decoded.pixels, pixels)
    assert decoded.source_shape == pixels.shape
    assert decoded.sha256 == hashlib.sha256((tmp_path / "a.bmp").read_bytes()).hexdigest()


def test_rgb_and_palette_become_luma(tmp_path):
    for path, want in [
        (tmp_path / "rgb.bmp", save_rgb(tmp_path / "rgb.bmp", seed=3)),
        (tmp_path / "p.bmp", save_palette(tmp_path / "p.bmp", seed=4)),
    ]:
        got = images.read_file(path).pixels
        assert got.shape == want.shape and np.abs(got - want).max() <= 1


def test_transparency_is_composited_on_white():
    rgba = np.zeros((2, 3, 4), np.uint8)
    rgba[0, 0] = (0, 0, 0, 255)  # opaque black ink; the rest fully transparent black
    buffer = io.BytesIO()
    Image.fromarray(rgba, "RGBA").save(buffer, format="PNG")
    pixels, source = images.decode_bytes(buffer.getvalue())
    assert source == (2, 3) and pixels[0, 0] == 0 and (pixels.ravel()[1:] == 255).all()


def test_sixteen_bit_grayscale_keeps_its_top_eight_bits(tmp_path):
    wide = (np.arange(48).reshape(6, 8) * 1300).astype(np.uint16)  # 0 .. 61,100
    Image.fromarray(wide).save(tmp_path / "deep.png")
    decoded = images.read_file(tmp_path / "deep.png")
    with Image.open(tmp_path / "deep.png") as image:
        assert image.mode.startswith("I")
    np.testing.assert_array_equal(decoded.pixels, (wide >> 8).astype(np.uint8))


def test_floating_point_images_are_refused_with_the_reason(tmp_path):
    Image.fromarray(np.full((2, 3), 0.5, np.float32), "F").save(tmp_path / "float.tif")
    decoded = images.read_file(tmp_path / "float.tif")
    assert decoded.pixels is None and "floating-point" in decoded.error


def test_resize(tmp_path):
    save_1bit(tmp_path / "a.bmp", glyph(1))
    decoded = images.read_file(tmp_path / "a.bmp", resize=(3, 5))
    assert decoded.pixels.shape == (3, 5) and decoded.source_shape == (6, 8)


def test_unreadable_files_are_returned_not_raised(tmp_path):
    (tmp_path / "junk.bmp").write_bytes(b"BM" + bytes(40))
    (tmp_path / "empty.bmp").write_bytes(b"")
    for name in ("junk.bmp", "empty.bmp"):
        decoded = images.read_file(tmp_path / name)
        assert decoded.pixels is None and decoded.error.startswith("not a readable image")
        assert "BytesIO" not in decoded.error  # the reason speaks of the file, not Pillow's buffer
    missing = images.read_file(tmp_path / "absent.bmp")
    assert missing.error.startswith("cannot read file")


def test_check_shape():
    assert images.check_shape(None) is None
    assert images.check_shape([28, np.int64(28)]) == (28, 28)
    for bad in [(0, 1), (1,), (1, 2, 3), (1.0, 2), (True, 2), "28x28", 28]:
        with pytest.raises(ValueError, match="image_shape"):
            images.check_shape(bad, "image_shape")
