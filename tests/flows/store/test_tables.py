"""The one CSV writer and reader: columns in order, extra keys ignored, missing ones empty, commas and
quotes and non-ASCII text round-trip, a wrong header is named."""

from __future__ import annotations

import pytest

from flows.store.tables import csv_text, read_csv, write_csv


def test_rows_round_trip_through_a_file(tmp_path):
    rows = [{"path": "train/1/a,b.bmp", "name": "博", "note": 'say "hi"'}, {"path": "x.bmp", "name": "学"}]
    path = write_csv(tmp_path / "out" / "t.csv", rows, ("path", "name", "note"))
    assert path.read_text(encoding="utf-8").splitlines()[0] == "path,name,note"
    assert read_csv(path) == [{"path": "train/1/a,b.bmp", "name": "博", "note": 'say "hi"'},
                              {"path": "x.bmp", "name": "学", "note": ""}]
    assert [p.name for p in path.parent.iterdir()] == ["t.csv"]  # written atomically: no temporary left


def test_columns_choose_and_order_the_fields():
    assert csv_text([{"b": 2, "a": 1, "extra": 3}], ("a", "b")) == "a,b\n1,2\n"
    assert csv_text([], ("a", "b")) == "a,b\n"


def test_a_file_with_other_columns_is_named(tmp_path):
    path = write_csv(tmp_path / "h.csv", [{"a": 1}], ("a",))
    assert read_csv(path, ("a",)) == [{"a": "1"}]
    with pytest.raises(ValueError, match=r"h\.csv has columns \['a'\]; expected \['a', 'b'\]"):
        read_csv(path, ("a", "b"))
