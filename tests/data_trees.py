"""Small image folders written with Pillow for the data-stage tests, and what each file should decode to."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from PIL import Image

SHAPE = (6, 8)  # height, width: not square, so a transposed image cannot pass
STAGE_CLASSES = ("1", "2", "10")  # the pipeline stage tests' classes: "10" sorts after "2" naturally


def glyph(seed: int, shape: tuple[int, int] = SHAPE) -> np.ndarray:
    """A random black-on-white binary image, (h, w) uint8 of 0/255, distinct per seed."""
    ink = np.random.default_rng(seed).random(shape) < 0.3
    return np.where(ink, 0, 255).astype(np.uint8)


def save_1bit(path: Path, pixels: np.ndarray) -> np.ndarray:
    """Save a 0/255 array as a 1-bit BMP (Pillow mode '1'); return what it should decode to."""
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels).convert("1", dither=Image.Dither.NONE).save(path, format="BMP")
    return pixels


def save_rgb(path: Path, seed: int, shape: tuple[int, int] = SHAPE) -> np.ndarray:
    """Save a random RGB BMP; return its ITU-R 601 luma, the grayscale it should decode to (within 1)."""
    rgb = np.random.default_rng(seed).integers(0, 256, (*shape, 3), dtype=np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(rgb, "RGB").save(path, format="BMP")
    return rgb.astype(np.float64) @ np.array([0.299, 0.587, 0.114])


def save_palette(path: Path, seed: int, shape: tuple[int, int] = SHAPE) -> np.ndarray:
    """Save a palette ('P') BMP of red ink on white; return its luma, what it should decode to (within 1)."""
    ink = np.random.default_rng(seed).random(shape) < 0.3
    image = Image.fromarray(ink.astype(np.uint8), "P")
    image.putpalette([255, 255, 255, 200, 30, 10])  # index 0 white, 1 dark red
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path, format="BMP")
    luma = np.array([255.0, 0.299 * 200 + 0.587 * 30 + 0.114 * 10])
    return luma[ink.astype(int)]


def messy_root(root: Path) -> dict[str, np.ndarray]:
    """A data root with every kind of trouble; returns relative path -> expected pixels for readable images.

    train/1: a.bmp, a-copy.bmp (byte copy of a: a duplicate), rgb.bmp, wide.bmp (6x9, the wrong size),
    broken.bmp (corrupt), notes.txt; train/2: b.bmp, p.bmp (palette); train/3: empty;
    train/10: c.bmp, d.bmp, b-as-10.bmp (byte copy of train/2/b.bmp: a label conflict);
    labels.txt names 1, 2 and 10. Every other image is 6x8."""
    train = root / "train"
    expected = {
        "train/1/a.bmp": save_1bit(train / "1" / "a.bmp", glyph(1)),
        "train/1/rgb.bmp": save_rgb(train / "1" / "rgb.bmp", seed=7),
        "train/1/wide.bmp": save_1bit(train / "1" / "wide.bmp", glyph(2, (6, 9))),
        "train/2/b.bmp": save_1bit(train / "2" / "b.bmp", glyph(3)),
        "train/2/p.bmp": save_palette(train / "2" / "p.bmp", seed=4),
        "train/10/c.bmp": save_1bit(train / "10" / "c.bmp", glyph(5)),
        "train/10/d.bmp": save_1bit(train / "10" / "d.bmp", glyph(6)),
    }
    (train / "1" / "a-copy.bmp").write_bytes((train / "1" / "a.bmp").read_bytes())  # duplicate within a class
    expected["train/1/a-copy.bmp"] = expected["train/1/a.bmp"]
    (train / "10" / "b-as-10.bmp").write_bytes((train / "2" / "b.bmp").read_bytes())  # label conflict
    expected["train/10/b-as-10.bmp"] = expected["train/2/b.bmp"]
    (train / "1" / "broken.bmp").write_bytes(b"BM" + bytes(range(60)))
    (train / "1" / "notes.txt").write_text("not an image\n")
    (train / "3").mkdir()
    (root / "labels.txt").write_text("# folder name\n1 一\n2 二\n\n10 十\n", encoding="utf-8")
    return expected


def clean_root(root: Path, per_class: int = 3, classes: tuple[str, ...] = ("1", "2", "10")) -> None:
    """A data root with ``per_class`` distinct 1-bit images in each class folder and nothing wrong."""
    for k, name in enumerate(classes):
        for i in range(per_class):
            save_1bit(root / "train" / name / f"{i}.bmp", glyph(100 * k + i))


def listing(root: Path) -> dict[str, tuple[int, int, bytes]]:
    """Every file and folder under root: relative path -> (size, mtime_ns, content or b'')."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = Path(dirpath, name)
            st = path.stat()
            content = path.read_bytes() if path.is_file() else b""
            out[path.relative_to(root).as_posix()] = (st.st_size, st.st_mtime_ns, content)
    return out


def separable_classes(root: Path, classes: int = 3, per_class: int = 80, side: int = 16,
                      seed: int = 0) -> Path:
    """A data folder root/train/c<k>/w<i>.bmp of `classes` classes told apart by their own random pattern,
    each image its class's pattern with 8% of the pixels flipped: small and quick to learn; returns root."""
    rng = np.random.default_rng(seed)
    for k in range(classes):
        pattern = rng.random((side, side)) < 0.3
        for i in range(per_class):
            ink = pattern ^ (rng.random((side, side)) < 0.08)
            save_1bit(root / "train" / f"c{k}" / f"w{i:03d}.bmp", np.where(ink, 0, 255).astype(np.uint8))
    return root
