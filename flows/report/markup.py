"""A tiny document model rendered two ways: Markdown (report.md, Prefect artifacts) and self-contained HTML.

A document is a list of blocks: `Heading`, `Text`, `Table` and `Image`. Building the content once and
rendering it twice keeps report.md and report.html saying the same thing. Text is escaped for each target.
"""

from __future__ import annotations

import base64
import html
import math
import numbers
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Heading:
    level: int
    text: str


@dataclass(frozen=True)
class Text:
    text: str


@dataclass(frozen=True)
class Table:
    headers: Sequence[str]
    rows: Sequence[Sequence[Any]]


@dataclass(frozen=True)
class Image:
    name: str  # key into the image sources given to the renderer
    alt: str


Block = Heading | Text | Table | Image

_MD_SPECIAL = re.compile(r"([\\`*_\[\]<>|#])")

_CSS = """
body { font-family: system-ui, sans-serif; max-width: 1100px; margin: 2em auto; padding: 0 1em; color: #222; }
table { border-collapse: collapse; margin: 0.5em 0 1.5em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: left; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
th { background: #f3f3f3; }
img { max-width: 100%; }
"""


def data_uri(png: bytes) -> str:
    """A PNG as a ``data:image/png;base64,...`` URI, for images embedded in Markdown or HTML."""
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def cell(value: Any) -> str:
    """A table cell as text: integers as they are, other numbers to 4 significant digits, NaN/None 'n/a'."""
    if value is None:
        return "n/a"
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        return str(int(value))
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        number = float(value)
        if math.isnan(number):
            return "n/a"
        return f"{number:.4g}" if abs(number) < 1e4 else f"{number:.0f}"
    return str(value)


def to_markdown(blocks: Sequence[Block], images: Mapping[str, str]) -> str:
    """Markdown for `blocks`; `images` maps each Image name to its src (a relative path or a data URI)."""
    out = []
    for block in blocks:
        if isinstance(block, Heading):
            out.append("#" * block.level + " " + _md(block.text))
        elif isinstance(block, Text):
            out.append(_md(block.text))
        elif isinstance(block, Table):
            lines = ["| " + " | ".join(_md(h) for h in block.headers) + " |"]
            lines.append("|" + "|".join(" --- " for _ in block.headers) + "|")
            lines += ["| " + " | ".join(_md(cell(v)) for v in row) + " |" for row in block.rows]
            out.append("\n".join(lines))
        else:
            out.append(f"![{_md(block.alt)}]({images[block.name]})")
    return "\n\n".join(out) + "\n"


def to_html(blocks: Sequence[Block], images: Mapping[str, str], title: str) -> str:
    """A complete HTML page for `blocks` with inline CSS; `images` maps each Image name to its src."""
    body = []
    for block in blocks:
        if isinstance(block, Heading):
            body.append(f"<h{block.level}>{html.escape(block.text)}</h{block.level}>")
        elif isinstance(block, Text):
            body.append(f"<p>{html.escape(block.text)}</p>")
        elif isinstance(block, Table):
            head = "".join(f"<th>{html.escape(h)}</th>" for h in block.headers)
            rows = "".join("<tr>" + "".join(_td(v) for v in row) + "</tr>\n" for row in block.rows)
            body.append(f"<table>\n<thead><tr>{head}</tr></thead>\n<tbody>\n{rows}</tbody>\n</table>")
        else:
            src, alt = html.escape(images[block.name]), html.escape(block.alt)
            body.append(f'<figure><img src="{src}" alt="{alt}"></figure>')
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f"<title>{html.escape(title)}</title>\n<style>{_CSS}</style>\n</head>\n<body>\n"
        + "\n".join(body)
        + "\n</body>\n</html>\n"
    )


def _md(text: str) -> str:
    return _MD_SPECIAL.sub(r"\\\1", str(text).replace("\n", " "))


def _td(value: Any) -> str:
    numeric = isinstance(value, numbers.Real) and not isinstance(value, bool)
    return ('<td class="num">' if numeric else "<td>") + html.escape(cell(value)) + "</td>"
