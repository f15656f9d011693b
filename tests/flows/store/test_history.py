"""A run's small records: the ingest summary and the epoch history CSV (the quality summary people read is
tested with the report's content, tests/flows/report/test_content.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from flows.pipeline.preparation import IngestSummary
from flows.store.history import HISTORY_COLUMNS, read_history_csv, write_history_csv
from mlp import EpochRecord, History


def test_ingest_summary_says_whether_images_were_decoded():
    reused = IngestSummary(Path("d.parquet"), 6720, n_decoded=0, n_reused=6720, rewritten=False)
    assert "Reused the ingested data set d.parquet" in reused.describe()
    assert "none was decoded (6720 images)" in reused.describe()
    fresh = IngestSummary(Path("d.parquet"), 6720, n_decoded=20, n_reused=6700, rewritten=True)
    assert fresh.describe() == ("Ingested 6720 images into d.parquet: 20 files decoded, 6700 unchanged files "
                                "reused.")


def test_history_csv_round_trips_the_trainers_rows(tmp_path):
    history = History(records=[
        EpochRecord(1, 1.25, 0.5, 1.5, 0.4, 1e-3, 0.125),
        EpochRecord(2, 0.1 + 0.2, 0.875, 0.7, 0.9, 9.5e-4, 0.25),
    ])
    rows = [{"member": "2-framed", **row} for row in history.rows()]
    path = write_history_csv(tmp_path / "history.csv", rows)
    lines = path.read_text(encoding="utf-8").splitlines()
    assert lines[0] == ",".join(HISTORY_COLUMNS)
    assert lines[2].startswith("2-framed,2,0.30000000000000004,")  # full precision, not rounded
    assert read_history_csv(path) == rows


def test_history_csv_keeps_missing_values_as_none(tmp_path):
    rows = [{"member": "1-raw", "epoch": 1, "train_loss": 0.5, "train_accuracy": None, "val_loss": None,
             "val_accuracy": None, "lr": 0.01, "seconds": 1.0}]
    assert read_history_csv(write_history_csv(tmp_path / "h.csv", rows)) == rows


def test_history_csv_with_other_columns_is_refused(tmp_path):
    path = tmp_path / "other.csv"
    path.write_text("epoch,loss\n1,0.5\n", encoding="utf-8")
    with pytest.raises(ValueError, match="expected \\['member', 'epoch', 'train_loss'"):
        read_history_csv(path)
