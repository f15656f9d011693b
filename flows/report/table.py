"""A table as a document shows it: the one shape every table of the report and the artifacts takes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Table:
    """A table as a document shows it: headers and rows of plain values (the templates format the cells)."""

    headers: tuple[str, ...]
    rows: tuple[tuple[Any, ...], ...]

    def __post_init__(self) -> None:
        headers, rows = tuple(self.headers), tuple(tuple(row) for row in self.rows)
        wrong = [row for row in rows if len(row) != len(headers)]
        if wrong:
            raise ValueError(f"a row of the table {list(headers)} has {len(wrong[0])} cells: "
                             f"{list(wrong[0])}")
        object.__setattr__(self, "headers", headers)
        object.__setattr__(self, "rows", rows)
