"""The data-quality summary rendered from a plain dict, whatever its keys."""

from __future__ import annotations

import json

import numpy as np

from flows.report.markup import Heading, Table, Text, to_markdown
from flows.report.quality_view import MAX_ROWS, quality_blocks, quality_rows
from tests.flows.report_samples import FOLDERS, NAMES, QUALITY


def test_blocks_summary_then_one_section_per_collection():
    blocks = quality_blocks(QUALITY, FOLDERS, NAMES)
    assert blocks[0] == Table(
        ["check", "value"], [["N images", 13], ["Skipped", 1], ["Duplicates", 1], ["Label conflicts", 0]]
    )
    headings = [b.text for b in blocks if isinstance(b, Heading)]
    assert headings == ["Counts", "Skipped", "Duplicates", "Label conflicts"]
    counts = blocks[blocks.index(Heading(3, "Counts")) + 1]
    assert counts == Table(["folder", "name", "value"], [["1", "博", 6], ["2", "学", 4], ["3", "笃", 3]])
    skipped = blocks[blocks.index(Heading(3, "Skipped")) + 1]
    assert skipped == Table(["path", "reason"], [["train/3/bad.bmp", "cannot identify image file"]])
    duplicates = blocks[blocks.index(Heading(3, "Duplicates")) + 1]
    assert duplicates == Table(["group", "entries"], [[1, "train/1/4.bmp, train/1/9.bmp"]])
    assert blocks[-1] == Text("None.")


def test_long_lists_are_cut_with_a_note():
    many = {"duplicates": [[f"a{i}.bmp", f"b{i}.bmp"] for i in range(MAX_ROWS + 7)]}
    blocks = quality_blocks(many, FOLDERS, NAMES)
    assert len(blocks[2].rows) == MAX_ROWS
    assert blocks[3] == Text("… and 7 more, not shown.")


def test_empty_quality_says_so():
    assert quality_blocks({}, FOLDERS, NAMES) == [Text("No data-quality report was given.")]


def test_rows_are_uniform_json_ready_and_carry_display_names():
    quality = {**QUALITY, "n_images": np.int64(13), "image_shape": (28, 28)}
    rows = quality_rows(quality, FOLDERS, NAMES)
    assert all(set(row) == {"section", "item", "value"} for row in rows)
    assert json.loads(json.dumps(rows)) == rows
    assert {"section": "summary", "item": "n_images", "value": 13} in rows
    assert {"section": "counts", "item": "1 博", "value": 6} in rows
    assert {
        "section": "skipped",
        "item": "train/3/bad.bmp",
        "value": "reason: cannot identify image file",
    } in rows
    assert {"section": "duplicates", "item": "1", "value": "train/1/4.bmp, train/1/9.bmp"} in rows
    assert {"section": "summary", "item": "label_conflicts", "value": 0} in rows
    assert {"section": "summary", "item": "image_shape", "value": "28, 28"} in rows


def test_markdown_of_the_quality_blocks_names_the_classes():
    md = to_markdown(quality_blocks(QUALITY, FOLDERS, NAMES), {})
    assert "| 1 | 博 | 6 |" in md and "| 3 | 笃 | 3 |" in md
