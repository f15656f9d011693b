"""Which font the figures draw class labels with: the display names (博, 学, ...) when a font that
matplotlib can load and pick by name has their glyphs, fonts installed after matplotlib's font cache was
written included (`font_for`); otherwise the folder names, with a note saying why (`class_labels`).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cache

from matplotlib.font_manager import FontManager, FontProperties, findSystemFonts, fontManager
from matplotlib.ft2font import FT2Font

# Fonts that have a glyph for nearly everything but draw placeholders, not letters.
_PLACEHOLDER_FONTS = ("Last Resort",)
_DEFAULT_FAMILY = "DejaVu Sans"


@dataclass(frozen=True)
class Labels:
    """Class labels as a figure draws them: the texts, the font to draw them with, and a note on fallbacks."""

    texts: tuple[str, ...]
    font: FontProperties
    note: str | None


def font_for(text: str, manager: FontManager = fontManager,
             system_fonts: Iterable[str] | None = None) -> str | None:
    """Family name of a font that matplotlib (`manager`) can load, picks by that name, and that has a real
    glyph for every character of `text`; None when there is none.

    Prefers matplotlib's default family when it suffices. Fonts installed after matplotlib's font cache was
    written are not in `manager`: when no known font covers `text`, the installed font files it does not
    know (`system_fonts`, default matplotlib's `findSystemFonts()`) that cover it are added to `manager`,
    which then draws with them."""
    return _font_for(text, manager, None if system_fonts is None else tuple(system_fonts))


@cache
def _font_for(text: str, manager: FontManager, system_fonts: tuple[str, ...] | None) -> str | None:
    needed = {ord(c) for c in text if not c.isspace()}
    family = _usable_family(manager, needed)
    if family is not None:
        return family
    known = {os.path.realpath(entry.fname) for entry in manager.ttflist}
    added = False
    for path in findSystemFonts() if system_fonts is None else system_fonts:
        if os.path.realpath(path) not in known and _covers(path, 0, needed):
            manager.addfont(path)
            added = True
    return _usable_family(manager, needed) if added else None


def _usable_family(manager: FontManager, needed: set[int]) -> str | None:
    """The first family, the default first, whose regular font, as `manager` picks it by name, covers
    `needed` (families without a regular font are passed over: matplotlib would warn drawing with them)."""
    names = dict.fromkeys(e.name for e in manager.ttflist if not e.name.startswith(_PLACEHOLDER_FONTS)
                          and e.style == "normal" and e.weight in (400, "normal", "regular"))
    for name in sorted(names, key=lambda n: n != _DEFAULT_FAMILY):
        try:
            path = manager.findfont(FontProperties(family=name), fallback_to_default=False,
                                    rebuild_if_missing=False)
        except ValueError:  # no font file of that family that matplotlib can pick, or its file is gone
            continue
        if _covers(str(path), getattr(path, "face_index", 0), needed):
            return name
    return None


def _covers(path: str, face_index: int, needed: set[int]) -> bool:
    """Whether the font file at `path` loads and has a glyph for every code point in `needed`."""
    try:
        face = FT2Font(path, face_index=face_index)
    except (OSError, RuntimeError, ValueError):  # a listed font file that is gone or unreadable
        return False
    return all(face.get_char_index(code) for code in needed)


def class_labels(class_names: Sequence[str], display_names: Sequence[str]) -> Labels:
    """Display names when a font covers them all, else folder names with a note saying why."""
    family = font_for("".join(display_names))
    if family is not None:
        return Labels(tuple(display_names), FontProperties(family=[family, _DEFAULT_FAMILY]), None)
    note = ("Labels are folder names: no font that matplotlib can load has the glyphs of the display names "
            "(install one, e.g. Noto Sans CJK).")
    return Labels(tuple(class_names), FontProperties(family=_DEFAULT_FAMILY), note)
