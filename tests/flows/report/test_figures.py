"""The report's figures: valid PNGs of the declared size, display names or a stated fallback, all glyphs."""

from __future__ import annotations

import io
import warnings

import numpy as np
import pytest
from matplotlib.font_manager import fontManager
from matplotlib.ft2font import FT2Font
from PIL import Image

from flows.report import figures
from flows.report.figures import class_labels, font_for, grid_shape
from tests.flows.report_samples import CONFUSION, FOLDERS, HISTORY, NAMES, digits_images


def _size(png: bytes) -> tuple[int, int]:
    with Image.open(io.BytesIO(png)) as image:
        image.verify()
    with Image.open(io.BytesIO(png)) as image:
        assert image.format == "PNG"
        return image.size


def test_default_font_covers_latin_text():
    assert font_for("Accuracy → 0.5") == "DejaVu Sans"


def test_a_found_font_really_has_the_glyphs():
    family = font_for("博学笃")
    if family is None:
        return  # no CJK font on this machine: the fallback is tested below
    assert not family.startswith("Last Resort")
    path = next(f.fname for f in fontManager.ttflist if f.name == family)
    face = FT2Font(path)
    assert all(face.get_char_index(ord(c)) for c in "博学笃")


def test_labels_are_display_names_or_folder_names_with_a_note():
    labels = class_labels(FOLDERS, NAMES)
    if font_for("".join(NAMES)) is None:
        assert labels.texts == tuple(FOLDERS)
        assert "folder names" in labels.note
    else:
        assert labels.texts == tuple(NAMES) and labels.note is None
    latin = class_labels(["a", "b"], ["cat", "dog"])
    assert latin.texts == ("cat", "dog") and latin.note is None


def test_figures_are_pngs_of_the_declared_size_and_draw_every_glyph():
    labels = class_labels(FOLDERS, NAMES)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # matplotlib warns "Glyph ... missing from font(s)"
        pngs = {
            "curves": figures.curves_png({"1": HISTORY}, best_epochs={"1": 2}),
            "confusion": figures.confusion_png(CONFUSION, labels),
            "per_class": figures.per_class_png(np.array([5 / 6, 1.0, np.nan]), labels),
            "misclassified": figures.misclassified_png(
                digits_images(20), (8, 8), np.arange(20) % 3, (np.arange(20) + 1) % 3, labels
            ),
        }
    assert _size(pngs["curves"]) == (1000, 400)
    assert _size(pngs["confusion"]) == (700, 600)
    assert _size(pngs["per_class"]) == (800, 400)
    assert grid_shape(20) == (3, 8)
    assert _size(pngs["misclassified"]) == (8 * 125, 3 * 150 + 60)


def test_grid_shape_caps_the_images_shown():
    assert grid_shape(1) == (1, 1)
    assert grid_shape(5) == (1, 5)
    assert grid_shape(9) == (2, 8)
    assert grid_shape(1000) == (figures.MAX_MISCLASSIFIED // 8, 8)


def test_misclassified_needs_images():
    with pytest.raises(ValueError, match="no misclassified images"):
        figures.misclassified_png(
            np.zeros((0, 64), np.uint8),
            (8, 8),
            np.zeros(0, int),
            np.zeros(0, int),
            class_labels(FOLDERS, NAMES),
        )
