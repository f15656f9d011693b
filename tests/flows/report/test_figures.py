"""The report's figures: valid PNGs of the declared size, display names or a stated fallback, all glyphs."""

from __future__ import annotations

import copy
import dataclasses
import io
import warnings

import numpy as np
import pytest
from matplotlib.font_manager import FontManager, FontProperties, findSystemFonts, fontManager
from matplotlib.ft2font import FT2Font
from PIL import Image

from flows.report import figures, fonts
from flows.report.figures import grid_shape
from flows.report.fonts import Labels, class_labels, font_for
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


def _manager_without(names) -> FontManager:
    """A copy of matplotlib's font manager that knows none of the fonts `names` keeps (a stale font cache:
    fonts installed after it was written)."""
    stale = copy.copy(fontManager)
    stale.ttflist = [entry for entry in fontManager.ttflist if not names(entry.name)]
    return stale


def test_a_font_installed_after_the_cache_was_written_is_found_and_added():
    """matplotlib reads its font list from a cache: a font installed later is not in it. The check looks
    at the installed font files the manager does not know, adds the one that covers the text, and draws
    with it."""
    stale = _manager_without(lambda name: not name.startswith("Last Resort"))  # placeholders only
    assert fonts._usable_family(stale, {ord("A")}) is None
    dejavu = next(entry.fname for entry in fontManager.ttflist if entry.name == "DejaVu Sans"
                  and entry.weight == 400 and entry.style == "normal")
    assert font_for("Accuracy", stale, system_fonts=[dejavu]) == "DejaVu Sans"
    assert any(entry.name == "DejaVu Sans" for entry in stale.ttflist)  # added to that manager only
    assert font_for("Accuracy", _manager_without(lambda name: True), system_fonts=[]) is None


def test_a_listed_font_whose_file_is_gone_is_passed_over(tmp_path):
    stale = _manager_without(lambda name: True)
    gone = next(entry for entry in fontManager.ttflist if entry.name == "DejaVu Sans")
    stale.ttflist = [dataclasses.replace(gone, fname=str(tmp_path / "gone.ttf"), name="Gone Sans")]
    assert font_for("Accuracy", stale, system_fonts=[]) is None


def test_the_cjk_check_finds_whatever_cjk_font_is_installed():
    """On a machine with a CJK font (in matplotlib's cache or not), the display names are drawn with it;
    without one, the figures say so. The font is one matplotlib picks by its name."""
    family = font_for("".join(NAMES))
    installed = [path for path in findSystemFonts() if fonts._covers(path, 0, {ord(c) for c in NAMES})]
    assert (family is not None) == bool(installed or fonts._usable_family(fontManager, {ord("博")}))
    if family is not None:
        path = fontManager.findfont(FontProperties(family=family), fallback_to_default=False)
        assert fonts._covers(str(path), path.face_index, {ord(c) for c in "".join(NAMES)})


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


@pytest.mark.parametrize("n", [1, 2, 3])
def test_the_title_of_a_few_misclassified_images_is_not_cut_off(n):
    """One to three images make a grid narrower than its title: the figure keeps a minimum width, the grid
    is centred and the title and note wrap, so no text touches the figure's edges."""
    note = Labels(tuple(FOLDERS), FontProperties(family="DejaVu Sans"),
                  "Labels are folder names: no font that matplotlib can load has the glyphs of the display "
                  "names (install one, e.g. Noto Sans CJK).")
    for labels in (class_labels(FOLDERS, NAMES), note):
        png = figures.misclassified_png(digits_images(n), (8, 8), np.zeros(n, int), np.ones(n, int), labels)
        with Image.open(io.BytesIO(png)) as image:
            gray = np.asarray(image.convert("L"))
        assert gray.shape[1] == 400 and gray.shape[0] >= 150 + 60
        ink = np.flatnonzero((gray < 200).any(axis=0))
        assert ink.min() > 2 and ink.max() < gray.shape[1] - 3, (ink.min(), ink.max())  # nothing at the edges
        assert not (gray[:3] < 200).any()  # nor at the top


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
