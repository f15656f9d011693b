"""The documents people read, rendered from the jinja2 templates in flows/report/templates/.

The training report is written once, section by section, in ``report_sections.j2``; ``report.md.j2`` and
``report.html.j2`` render it through their target's macros (``macros.md.j2``, ``macros.html.j2``), so
report.md and report.html say the same things. The small Markdown documents (promotion, predictions, sweep
comparison, sine fit, checkpoint) have a template each. Templates get plain values (`flows.report.content`)
and only lay them out: HTML templates (``*.html.j2``) are autoescaped; Markdown text goes through the `md`
filter; table cells through `cell`. A value a template names but is not given raises (StrictUndefined).
Tables longer than COLLAPSE_ROWS rows are folded into a `<details>` element; section headings get anchors
(`anchor`) for the table of contents.
"""

from __future__ import annotations

import base64
import math
import numbers
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from flows.report import figures as fig
from flows.report.content import ReportContent, percent, report_content, significant
from flows.report.data import ReportData
from flows.report.fonts import class_labels
from mlp.atomic import write_bytes
from mlp.metrics import per_class_accuracy

TEMPLATES = Path(__file__).with_name("templates")
_MD_SPECIAL = re.compile(r"([\\`*_\[\]<>|#])")
_LINE_BREAK = re.compile(r"\s*\n\s*")
_NOT_ANCHOR = re.compile(r"[^\w\- ]")
COLLAPSE_ROWS = 15  # a table with more rows is folded (<details>): open it to read it


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


def markdown_text(value: Any) -> str:
    """`value` as Markdown text on one line, its special characters escaped (the templates' `md` filter)."""
    return _MD_SPECIAL.sub(r"\\\1", str(value).replace("\n", " "))


def one_line(text: str) -> str:
    """A paragraph written over several template lines as one line: each line break and the spaces around
    it become one space."""
    return _LINE_BREAK.sub(" ", str(text)).strip()


def anchor(title: str) -> str:
    """The anchor of a section heading, as GitHub makes it: lower case, spaces to dashes, punctuation
    dropped (``Per-class accuracy`` -> ``per-class-accuracy``)."""
    return _NOT_ANCHOR.sub("", str(title).strip().lower()).replace(" ", "-")


def is_number(value: Any) -> bool:
    """Whether a table cell is a number (right-aligned in HTML); bools are not."""
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def data_uri(png: bytes) -> str:
    """A PNG as a ``data:image/png;base64,...`` URI, for images embedded in Markdown or HTML."""
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


ENVIRONMENT = Environment(
    loader=FileSystemLoader(TEMPLATES),
    autoescape=select_autoescape(enabled_extensions=("html.j2",), default_for_string=False, default=False),
    undefined=StrictUndefined,  # a value a template names but is not given fails loudly, never renders ""
    trim_blocks=True,
    lstrip_blocks=True,
    keep_trailing_newline=True,
)
ENVIRONMENT.filters.update(md=markdown_text, cell=cell, percent=percent, significant=significant,
                           one_line=one_line, anchor=anchor)
ENVIRONMENT.globals["COLLAPSE_ROWS"] = COLLAPSE_ROWS
ENVIRONMENT.tests["numeric"] = is_number  # jinja's own `number` test counts True as a number


def render_template(name: str, **values: Any) -> str:
    """The template `name` (a file in TEMPLATES) rendered with `values`."""
    return ENVIRONMENT.get_template(name).render(**values)


def render_figures(data: ReportData) -> dict[str, bytes]:
    """The report's figures as PNG bytes by name: curves, augmentation (if any), confusion, per_class and
    misclassified (if any)."""
    labels = class_labels(data.class_names, data.display_names)
    pngs = {
        "curves": fig.curves_png({m: data.rows_of(m) for m in data.members}, data.best_epochs),
        "confusion": fig.confusion_png(data.confusion, labels),
        "per_class": fig.per_class_png(per_class_accuracy(data.confusion), labels),
    }
    if data.examples is not None:
        pngs["augmentation"] = fig.augmentation_png(
            data.examples.originals, data.examples.variants, data.image_shape,
            [labels.texts[c] for c in data.examples.labels], labels.font)
    if len(data.misclassified):
        pngs["misclassified"] = fig.misclassified_png(
            data.misclassified, data.image_shape, data.misclassified_true, data.misclassified_pred, labels
        )
    return pngs


def report_markdown(data: ReportData | ReportContent, figures: Mapping[str, str]) -> str:
    """report.md's text (and the `training-report` artifact's); `figures` maps each figure's name to its
    src: a path relative to the report, or a data URI."""
    return render_template("report.md.j2", c=_content(data), figures=figures)


def report_html(data: ReportData | ReportContent, pngs: Mapping[str, bytes]) -> str:
    """report.html's text: one self-contained page, every figure embedded as a PNG data URI."""
    figures = {name: data_uri(png) for name, png in pngs.items()}
    return render_template("report.html.j2", c=_content(data), figures=figures)


def _content(data: ReportData | ReportContent) -> ReportContent:
    return data if isinstance(data, ReportContent) else report_content(data)


@dataclass(frozen=True)
class ReportFiles:
    """Where `write_report` put the report: report.md, report.html and figures/<name>.png."""

    markdown: Path
    html: Path
    figures: dict[str, Path]


def write_report(data: ReportData, run_dir: Path, pngs: Mapping[str, bytes] | None = None) -> ReportFiles:
    """Write run_dir/figures/<name>.png, run_dir/report.md (figures linked) and run_dir/report.html (figures
    embedded), each file atomically; `pngs`: the figures when already drawn (`render_figures(data)`)."""
    run_dir = Path(run_dir)
    pngs = render_figures(data) if pngs is None else pngs
    paths = {name: write_bytes(run_dir / "figures" / f"{name}.png", png) for name, png in pngs.items()}
    content = report_content(data)
    markdown = report_markdown(content, {name: f"figures/{name}.png" for name in pngs})
    write_bytes(run_dir / "report.md", markdown.encode("utf-8"))
    write_bytes(run_dir / "report.html", report_html(content, pngs).encode("utf-8"))
    return ReportFiles(run_dir / "report.md", run_dir / "report.html", paths)
