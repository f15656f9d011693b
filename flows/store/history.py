"""A run's epoch history: history.csv, one row per network and epoch, rewritten atomically after every epoch
so that it can be watched while training runs."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from flows.store.tables import read_csv, write_csv
from mlp.history import EpochRecord

# member: which network of the ensemble (e.g. "1-raw"), each with its own rows of epochs; then the fields
# of the trainer's EpochRecord (epoch, train_loss, train_accuracy, val_loss, val_accuracy, lr, seconds)
HISTORY_COLUMNS = ("member", *(f.name for f in dataclasses.fields(EpochRecord)))


def write_history_csv(path: Path, rows: Sequence[Mapping[str, Any]]) -> Path:
    """Write epoch rows (``History.rows()`` with a member) with HISTORY_COLUMNS, atomically; numbers as
    their repr (read back exactly), None as ''."""
    def text(key: str, value: Any) -> str:
        return "" if value is None else value if key == "member" else repr(value)

    return write_csv(path, ({k: text(k, row.get(k)) for k in HISTORY_COLUMNS} for row in rows),
                     HISTORY_COLUMNS)


def read_history_csv(path: Path) -> list[dict[str, Any]]:
    """The rows of `write_history_csv` back: member as str, epoch as int, the rest as float ('' as None)."""
    return [
        {k: v if k == "member" else int(v) if k == "epoch" else (None if v == "" else float(v))
         for k, v in row.items()}
        for row in read_csv(path, HISTORY_COLUMNS)
    ]
