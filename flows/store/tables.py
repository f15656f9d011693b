"""CSV files of rows: the one writer (atomic) and reader of every CSV mlpflow writes (history, predictions,
sweep comparisons)."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from mlp.atomic import write_bytes


def csv_text(rows: Iterable[Mapping[str, Any]], columns: Sequence[str]) -> str:
    """Rows as CSV text: a header of `columns`, then one line per row (keys outside `columns` ignored,
    missing ones empty)."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(columns), extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()


def write_csv(path: str | Path, rows: Iterable[Mapping[str, Any]], columns: Sequence[str]) -> Path:
    """Write `csv_text(rows, columns)` to `path` atomically (UTF-8); return the path."""
    return write_bytes(path, csv_text(rows, columns).encode("utf-8"))


def read_csv(path: str | Path, columns: Sequence[str] | None = None) -> list[dict[str, str]]:
    """The rows of a CSV file as dicts of text; with `columns`, ValueError naming the file unless its header
    is exactly those columns (in any order)."""
    with open(path, newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        rows = list(reader)
        header = reader.fieldnames or []
    if columns is not None and set(header) != set(columns):
        raise ValueError(f"{path} has columns {list(header)}; expected {list(columns)}")
    return rows
