"""A run's small records: the ingest summary, the quality summary people read, the epoch history CSV."""

from __future__ import annotations

from pathlib import Path

import pytest

from flows.pipeline.stages import IngestSummary
from flows.report.quality_view import quality_rows, quality_summary
from flows.store.history import HISTORY_COLUMNS, read_history_csv, write_history_csv
from mlp import EpochRecord, History
from mlp.data.quality import Skipped, check


@pytest.fixture
def report():
    """Five readable 28x28 images of two classes, plus a wrong-size one; a.bmp and c.bmp are one file filed
    under both classes, d.bmp and e.bmp one file twice in class 2; one file unreadable."""
    paths = ["train/1/a.bmp", "train/1/b.bmp", "train/2/c.bmp", "train/2/d.bmp", "train/2/e.bmp",
             "train/2/big.bmp"]
    return check(
        paths,
        ["train"] * 6,
        ["1", "1", "2", "2", "2", "2"],
        ["h1", "h2", "h1", "h3", "h3", "h4"],
        [(28, 28)] * 5 + [(32, 32)],
        class_names=["1", "2"],
        display_names=["博", "学"],
        skipped=[Skipped("train/1/bad.bmp", "cannot identify image file")],
        root="/data",
    )


def test_ingest_summary_says_whether_images_were_decoded():
    reused = IngestSummary(Path("d.parquet"), 6720, n_decoded=0, n_reused=6720, rewritten=False)
    assert "Reused the ingested data set d.parquet" in reused.describe()
    assert "none was decoded (6720 images)" in reused.describe()
    fresh = IngestSummary(Path("d.parquet"), 6720, n_decoded=20, n_reused=6700, rewritten=True)
    assert fresh.describe() == ("Ingested 6720 images into d.parquet: 20 files decoded, 6700 unchanged files "
                                "reused.")


def test_quality_summary_totals_groups_and_display_names(report):
    ingest = IngestSummary(Path("d.parquet"), 5, n_decoded=0, n_reused=7, rewritten=False)
    summary = quality_summary(report, ingest)
    assert summary["images"] == 5 and summary["image_size"] == "28x28" and summary["classes"] == 2
    assert summary["files_decoded_now"] == 0 and summary["files_reused_from_last_ingest"] == 7
    assert summary["train_images_per_class"] == {"1": 2, "2": 3}
    assert summary["skipped"] == [{"path": "train/1/bad.bmp", "reason": "cannot identify image file"}]
    assert summary["wrong_size"] == [{"path": "train/2/big.bmp", "size": "32x32", "expected": "28x28"}]
    assert summary["duplicates"] == [{"files": "train/2/d.bmp, train/2/e.bmp", "labels": "2 学"}]
    assert summary["label_conflicts"] == [{"files": "train/1/a.bmp, train/2/c.bmp", "labels": "1 博, 2 学"}]
    rows = quality_rows(summary, report.class_names, report.display_names)  # what the artifact shows
    assert {"section": "train_images_per_class", "item": "2 学", "value": 3} in rows
    assert {"section": "summary", "item": "files_decoded_now", "value": 0} in rows


def test_unlabelled_test_images_are_counted_apart():
    paths = ["train/1/a.bmp", "test/x.bmp", "test/y.bmp"]
    report = check(paths, ["train", "test", "test"], ["1", None, None], ["h1", "h2", "h3"], [(8, 8)] * 3,
                   class_names=["1"])
    summary = quality_summary(report, IngestSummary(Path("d.parquet"), 3, 3, 0, True))
    assert summary["train_images_per_class"] == {"1": 1}
    assert summary["test_images_unlabelled"] == 2 and "test_images_per_class" not in summary


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
