"""The history of runs as people read it: the same columns, formatted once, for `mlpflow runs` (aligned
text), the `run-history` table artifact and `<output>/index.html` (with links to the reports and a plot of
validation accuracy over runs). Rows come from `flows.store.run_history`, newest first.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

from flows.report import figures
from flows.report.content import percent
from flows.report.render import data_uri, render_template
from flows.store.run_history import RunRow

COLUMNS = ("run", "data", "started (UTC)", "seconds", "status", "members", "hidden", "epochs", "lr",
           "optimizer", "augment", "seed", "group by", "val accuracy", "val loss", "promoted", "note")
RIGHT = {"seconds", "epochs", "lr", "seed", "val accuracy", "val loss"}  # right-aligned in text
RECENT = 50  # rows of the run-history artifact
INDEX_ROWS = 500  # rows of index.html's table (its plot shows every run)
PLOT_COLUMNS = ("data_key", "started", "val_accuracy", "promoted")  # what the plot reads of each run


def run_cells(row: RunRow) -> tuple[str, ...]:
    """A row's cells under COLUMNS: accuracy in percent, loss to 4 significant digits, 'n/a' where nothing
    was measured; the note is a failed run's error, else the promotion's reason."""
    loss = "n/a" if row.val_loss is None else f"{row.val_loss:.4g}"
    promoted = "n/a" if row.promoted is None else "yes" if row.promoted else "no"
    note = row.error or row.promotion_reason or ""
    return (row.run, row.data_key or "n/a", row.started.replace("T", " ").removesuffix("+00:00"),
            f"{row.duration_s:.1f}", row.status, ",".join(row.members), ",".join(map(str, row.hidden)),
            str(row.epochs), f"{row.lr:g}", row.optimizer, row.augment, str(row.seed), row.group_by,
            percent(row.val_accuracy), loss, promoted, note)


def runs_text(rows: Sequence[RunRow]) -> str:
    """The rows as plain text in aligned columns under a header (the note last, not padded)."""
    lines = [COLUMNS, *(run_cells(r) for r in rows)]
    widths = [max(len(line[k]) for line in lines) for k in range(len(COLUMNS) - 1)]

    def aligned(cells: Sequence[str]) -> str:
        padded = [c.rjust(w) if COLUMNS[k] in RIGHT else c.ljust(w)
                  for k, (c, w) in enumerate(zip(cells, widths, strict=False))]
        return "  ".join([*padded, cells[-1]]).rstrip()

    return "\n".join(aligned(line) for line in lines) + "\n"


def artifact_rows(rows: Sequence[RunRow]) -> list[dict[str, str]]:
    """The rows as the `run-history` table artifact shows them: {column: cell}."""
    return [dict(zip(COLUMNS, run_cells(r), strict=True)) for r in rows]


def accuracy_png(columns: Mapping[str, Sequence[Any]]) -> bytes | None:
    """Validation accuracy over runs, a line per data set key (`figures.runs_accuracy_png`), from the
    history's PLOT_COLUMNS of every run (`flows.store.run_history.read_table`); None when no run measured
    one."""
    series: dict[str, list[tuple[datetime, float, bool]]] = defaultdict(list)
    for key, started, accuracy, promoted in sorted(zip(*(columns[c] for c in PLOT_COLUMNS), strict=True),
                                                   key=lambda point: point[1]):
        if accuracy is not None:
            series[key or "n/a"].append((datetime.fromisoformat(started), accuracy, bool(promoted)))
    return figures.runs_accuracy_png(series) if series else None


def index_page(rows: Sequence[RunRow], total: int, columns: Mapping[str, Sequence[Any]],
               output_dir: str | Path) -> str:
    """index.html: `rows` (the newest runs, newest first; `total` recorded), each run's name a relative link
    to its report.html while that exists (retention removes old runs), and `accuracy_png(columns)`."""
    output_dir = Path(output_dir)
    shown = [{"status": r.status, "cells": run_cells(r),
              "href": quote(r.report) if r.report and (output_dir / r.report).is_file() else None}
             for r in rows]
    png = accuracy_png(columns)
    return render_template("index.html.j2", output=str(output_dir), columns=COLUMNS, rows=shown, total=total,
                           right=[c in RIGHT for c in COLUMNS], figure=None if png is None else data_uri(png))
