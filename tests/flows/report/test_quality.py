"""The data-quality section and artifact from a real QualityReport: totals and ingest counts, classes with
display names, every kind of issue, long lists cut in the report only."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from flows.report.quality import (
    MAX_ROWS,
    DataQuality,
    class_item,
    quality_rows,
    quality_section,
    quality_summary,
)
from flows.report.table import Table
from mlp.data.quality import DuplicateGroup, QualityReport, Skipped, check
from tests.flows.report_samples import (
    DATA_QUALITY,
    QUALITY,
)


@pytest.fixture
def checked() -> DataQuality:
    """Five readable 28x28 images of two classes, plus a wrong-size one; a.bmp and c.bmp are one file filed
    under both classes, d.bmp and e.bmp one file twice in class 2; one file unreadable; two unlabelled test
    images. Ingest decoded none of the files and reused 9."""
    paths = ["train/1/a.bmp", "train/1/b.bmp", "train/2/c.bmp", "train/2/d.bmp", "train/2/e.bmp",
             "train/2/big.bmp", "test/x.bmp", "test/y.bmp"]
    report = check(
        paths,
        ["train"] * 6 + ["test"] * 2,
        ["1", "1", "2", "2", "2", "2", None, None],
        ["h1", "h2", "h1", "h3", "h3", "h4", "h5", "h6"],
        [(28, 28)] * 5 + [(32, 32)] + [(28, 28)] * 2,
        class_names=["1", "2"],
        display_names=["博", "学"],
        skipped=[Skipped("train/1/bad.bmp", "cannot identify image file")],
        root="/data",
    )
    return DataQuality(report, n_decoded=0, n_reused=9)


# ------------------------------------------------------------------------------------------ data quality
def test_quality_summary_totals_ingest_and_issue_counts(checked):
    assert quality_summary(checked) == [
        ("Images", 7),  # 5 usable training images (big.bmp is of a wrong size), 2 unlabelled test images
        ("Image size", "28x28"),
        ("Classes", 2),
        ("Files decoded now", 0),
        ("Files reused from the last ingest", 9),
        ("Unlabelled images in test", 2),
        ("Skipped files", 1),
        ("Wrong-size images", 1),
        ("Duplicate groups", 1),
        ("Label conflicts", 1),
    ]


def test_quality_section_has_classes_with_display_names_and_every_issue(checked):
    section = quality_section(checked)
    assert section.classes == Table(("folder", "name", "train/ folder"), [("1", "博", 2), ("2", "学", 3)])
    assert section.classes_note == "Usable images of each class folder (train/ folder)."
    listings = {listing.title: listing for listing in section.listings}
    assert list(listings) == ["Skipped files", "Wrong-size images", "Duplicate groups", "Label conflicts"]
    assert listings["Skipped files"].table.rows == (("train/1/bad.bmp", "cannot identify image file"),)
    assert listings["Wrong-size images"].table.rows == (("train/2/big.bmp", "32x32, expected 28x28"),)
    assert listings["Duplicate groups"].table.rows == (
        ("train/2/d.bmp, train/2/e.bmp", "2 identical files, labels 2 (学)"),)
    assert listings["Label conflicts"].table.rows == (
        ("train/1/a.bmp, train/2/c.bmp", "2 identical files, labels 1 (博), 2 (学)"),)
    assert all(listing.n_more == 0 for listing in section.listings)


def test_the_runs_split_is_counted_beside_the_folders_and_labelled_as_such(checked):
    """The train/ folder's counts are the images found there; the run trained on its training split only."""
    section = quality_section(checked, {"training split": [2, 2], "validation split": [0, 1]})
    assert section.classes == Table(
        ("folder", "name", "train/ folder", "training split", "validation split"),
        [("1", "博", 2, 2, 0), ("2", "学", 3, 2, 1)])
    assert section.classes_note == ("Usable images of each class folder (train/ folder); and how this run "
                                    "split them (training split, validation split).")


def test_a_clean_data_set_still_lists_each_kind_as_empty():
    clean = QualityReport("r", (8, 8), ("1",), ("一",), {"train": {"1": 3}, "validation": {"1": 1}})
    section = quality_section(DataQuality(clean, 0, 4))
    assert section.classes == Table(("folder", "name", "train/ folder", "validation/ folder"),
                                    [("1", "一", 3, 1)])
    assert [(listing.title, listing.table.rows, listing.n_more) for listing in section.listings] == [
        ("Skipped files", (), 0), ("Wrong-size images", (), 0), ("Duplicate groups", (), 0),
        ("Label conflicts", (), 0)]


def test_long_lists_are_cut_in_the_report_not_in_the_artifact():
    groups = tuple(DuplicateGroup(f"h{i}", (f"a{i}.bmp", f"b{i}.bmp"), ("1", "1"))
                   for i in range(MAX_ROWS + 7))
    report = QualityReport("r", (8, 8), ("1",), ("一",), {"train": {"1": 200}}, duplicates=groups)
    quality = DataQuality(report, 0, 200)
    [listing] = [x for x in quality_section(quality).listings if x.title == "Duplicate groups"]
    assert len(listing.table.rows) == MAX_ROWS and listing.n_more == 7
    assert listing.table.rows[-1][0] == f"a{MAX_ROWS - 1}.bmp, b{MAX_ROWS - 1}.bmp"
    assert sum(row["section"] == "duplicate" for row in quality_rows(quality)) == MAX_ROWS + 7


def test_errors_and_empty_class_folders_are_listed_when_present():
    broken = QualityReport("r", None, ("1", "2"), ("1", "2"), {"train": {"1": 3, "2": 0}},
                           empty_classes=("train/2",), errors=("empty class folder 'train/2'",))
    summary = dict(quality_summary(DataQuality(broken, 3, 0)))
    assert summary["Image size"] == "unknown"
    assert summary["Errors"] == 1 and summary["Empty class folders"] == 1
    titles = [listing.title for listing in quality_section(DataQuality(broken, 3, 0)).listings]
    assert titles[:2] == ["Errors", "Empty class folders"]


def test_quality_rows_are_uniform_json_ready_and_carry_display_names(checked):
    rows = quality_rows(checked)
    assert all(set(row) == {"section", "item", "value"} for row in rows)
    assert json.loads(json.dumps(rows)) == rows
    assert {"section": "summary", "item": "Files decoded now", "value": 0} in rows
    assert {"section": "summary", "item": "Files reused from the last ingest", "value": 9} in rows
    assert {"section": "summary", "item": "Image size", "value": "28x28"} in rows
    assert {"section": "train images per class", "item": "2 (学)", "value": 3} in rows
    assert {"section": "skipped", "item": "train/1/bad.bmp", "value": "cannot identify image file"} in rows
    assert {"section": "label conflict", "item": "train/1/a.bmp, train/2/c.bmp",
            "value": "2 identical files, labels 1 (博), 2 (学)"} in rows


def test_the_sample_quality_round_trips_through_json(tmp_path: Path):
    saved = QualityReport.from_dict(json.loads(QUALITY.save_json(tmp_path / "q.json").read_text("utf-8")))
    assert quality_rows(DataQuality(saved, 3, 13)) == quality_rows(DATA_QUALITY)


def test_a_class_item_names_its_folder_and_a_display_name_only_when_it_differs():
    """The digits demo's folder 0 is also named 0: one cell '0', not '0 0'."""
    assert class_item("1", "博") == "1 (博)" and class_item("0", "0") == "0"
    digits = QualityReport("r", (8, 8), ("0", "1"), ("0", "1"), {"train": {"0": 5, "1": 4}})
    items = [row["item"] for row in quality_rows(DataQuality(digits, 9, 0)) if row["section"] != "summary"]
    assert items == ["0", "1"]
