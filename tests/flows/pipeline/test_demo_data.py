"""The digits demo: real BMP files that decode back to scikit-learn's digits, written once and atomically."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from sklearn.datasets import load_digits

import flows.pipeline.demo_data as demo_data
from flows.pipeline.demo_data import digits_to_pixels, is_complete_demo, pixels_to_digits, write_digits_demo


def _snapshot(root: Path) -> dict[str, tuple[int, int]]:
    return {str(p.relative_to(root)): (p.stat().st_mtime_ns, p.stat().st_size) for p in root.rglob("*")}


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> Path:
    return write_digits_demo(tmp_path_factory.mktemp("demo-parent") / "demo")


def test_pixels_by_hand():
    np.testing.assert_array_equal(digits_to_pixels(np.array([0, 1, 8, 15, 16])), [255, 239, 127, 16, 0])
    values = np.arange(17)
    np.testing.assert_array_equal(pixels_to_digits(digits_to_pixels(values)), values)


def test_out_of_range_digits_values_are_rejected():
    with pytest.raises(ValueError, match=r"\[0, 16\].*\[0.0, 17.0\]"):
        digits_to_pixels(np.array([0, 17]))


def test_files_decode_back_to_the_digits(demo):
    digits = load_digits()
    assert (demo / "labels.txt").read_text(encoding="utf-8").splitlines() == [f"{d} {d}" for d in range(10)]
    assert sorted(p.name for p in (demo / "train").iterdir()) == sorted(str(d) for d in range(10))
    files = sorted((demo / "train").glob("*/*.bmp"))
    assert len(files) == len(digits.target) == 1797
    for path in files:
        i, label = int(path.stem), int(path.parent.name)
        with Image.open(path) as image:
            assert (image.format, image.mode, image.size) == ("BMP", "L", (8, 8))
            pixels = np.asarray(image)
        assert label == digits.target[i]
        np.testing.assert_array_equal(pixels_to_digits(pixels), digits.images[i])


def test_ink_is_dark_on_white(demo):
    pixels = []
    for path in sorted((demo / "train" / "0").glob("*.bmp"))[:20]:
        with Image.open(path) as image:
            pixels.append(np.asarray(image))
    counts = np.bincount(np.ravel(pixels), minlength=256)
    assert counts.argmax() == 255  # the background is white, like hanzi12
    assert counts[:64].sum() > 0  # and the strokes are dark


def test_second_call_writes_nothing(demo):
    before = _snapshot(demo.parent)
    assert is_complete_demo(demo)
    assert write_digits_demo(demo) == demo
    assert _snapshot(demo.parent) == before


def test_an_empty_existing_folder_is_filled(tmp_path):
    (tmp_path / "demo").mkdir()
    write_digits_demo(tmp_path / "demo")
    assert is_complete_demo(tmp_path / "demo")
    assert [p.name for p in tmp_path.iterdir()] == ["demo"]  # no temporary folder left behind


def test_an_incomplete_demo_is_refused_and_kept(tmp_path, demo):
    broken = tmp_path / "demo"
    broken.mkdir()
    (broken / "labels.txt").write_bytes((demo / "labels.txt").read_bytes())
    (broken / "train" / "3").mkdir(parents=True)
    (broken / "train" / "3" / "3.bmp").write_bytes((demo / "train" / "3" / "3.bmp").read_bytes())
    assert not is_complete_demo(broken)
    before = _snapshot(broken)
    with pytest.raises(FileExistsError, match=str(broken)):
        write_digits_demo(broken)
    assert _snapshot(broken) == before


def test_an_interrupted_write_leaves_no_demo(tmp_path, monkeypatch):
    def write_half_then_fail(root: Path, pixels: np.ndarray, target: np.ndarray) -> None:
        (root / "train" / "0").mkdir(parents=True)
        Image.fromarray(pixels[0]).save(root / "train" / "0" / "0.bmp", format="BMP")
        raise OSError("disk full")

    monkeypatch.setattr(demo_data, "_write_tree", write_half_then_fail)
    with pytest.raises(OSError, match="disk full"):
        write_digits_demo(tmp_path / "demo")
    assert list(tmp_path.iterdir()) == []
