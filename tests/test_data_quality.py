"""mlp.data.quality: the report built from paths, splits, labels, hashes and shapes handed to it."""

from __future__ import annotations

import json

import pytest

from mlp.data.quality import DatasetError, QualityReport, Skipped, check, majority_shape

PATHS = ["train/1/a", "train/1/b", "train/1/c", "train/2/d", "train/2/e", "train/2/f", "test/g"]
SPLITS = ["train"] * 6 + ["test"]
LABELS = ["1", "1", "1", "2", "2", "2", None]
# h1: two copies in one class; h2: a label conflict; h3: a training image copied into test
HASHES = ["h1", "h1", "h2", "h2", "h3", "h4", "h3"]
SHAPES = [(4, 4)] * 5 + [(5, 4), (4, 4)]


def report(**changes) -> QualityReport:
    options = dict(
        class_names=("1", "2", "3"),
        display_names=("一", "二", "三"),
        class_folders={"train": ("1", "2", "3")},
        skipped=[Skipped("train/1/x.txt", "not an image")],
        root="/data",
    )
    return check(PATHS, SPLITS, LABELS, HASHES, SHAPES, **{**options, **changes})


def test_majority_shape():
    assert majority_shape([(2, 3), (4, 4), (4, 4)]) == (4, 4)
    assert majority_shape([(2, 3), (4, 4)]) == (2, 3)  # tie: first seen
    assert majority_shape([]) is None


def test_counts_wrong_sizes_and_empty_classes():
    r = report()
    assert r.image_shape == (4, 4)
    assert r.counts == {"train": {"1": 3, "2": 2, "3": 0}, "test": {"": 1}}
    assert [(w.path, w.shape, w.expected) for w in r.wrong_size] == [("train/2/f", (5, 4), (4, 4))]
    assert r.empty_classes == ("train/3",) and not r.ok
    assert any("train/3" in e and "/data" in e and "no image file in it" in e for e in r.errors)
    assert r.n_images == 6


def test_an_empty_class_error_says_what_the_folder_held():
    skipped = [Skipped("train/3/a.png", "not an image file: extension '.png' not in ('.bmp',)"),
               Skipped("train/3/b.png", "not an image file: extension '.png' not in ('.bmp',)")]
    (error,) = report(skipped=skipped).errors
    assert error.startswith("empty class folder 'train/3' under /data: no usable image among 2 files")
    assert "train/3/a.png: not an image file: extension '.png'" in error


def test_duplicates_and_label_conflicts():
    r = report()
    assert [(g.sha256, g.paths) for g in r.duplicates] == [
        ("h1", ("train/1/a", "train/1/b")),
        ("h3", ("train/2/e", "test/g")),  # an unlabelled copy does not make a conflict
    ]
    (conflict,) = r.label_conflicts
    assert conflict.sha256 == "h2"
    assert (conflict.paths, conflict.labels) == (("train/1/c", "train/2/d"), ("1", "2"))


def test_expected_shape_given_and_nothing_usable():
    r = report(expected_shape=(9, 9))
    assert len(r.wrong_size) == len(PATHS) and r.n_images == 0
    assert any("no usable image" in e for e in r.errors)


def test_clean_data_is_ok():
    r = check(["train/1/a"], ["train"], ["1"], ["h"], [(2, 2)], class_names=("1",))
    assert r.ok and r.errors == () and r.display_names == ("1",)


def test_mismatched_inputs_are_errors():
    with pytest.raises(ValueError, match="one entry per image"):
        check(["a", "b"], ["train"], ["1"], ["h"], [(2, 2)], class_names=("1",))
    with pytest.raises(ValueError, match=r"unknown splits \['val'\]"):
        check(["a"], ["val"], ["1"], ["h"], [(2, 2)], class_names=("1",))
    with pytest.raises(ValueError, match="display names"):
        check([], [], [], [], [], class_names=("1", "2"), display_names=("one",))


def test_dict_json_round_trip(tmp_path):
    r = report()
    path = r.save_json(tmp_path / "out" / "quality.json")
    text = path.read_text(encoding="utf-8")
    assert "一" in text  # display names readable in the file, not \\u-escaped
    assert QualityReport.from_dict(json.loads(text)) == r == QualityReport.load_json(path)


def test_rows_for_tables():
    r = report()
    assert r.class_rows() == [
        {"label": "1", "name": "一", "train": 3},
        {"label": "2", "name": "二", "train": 2},
        {"label": "3", "name": "三", "train": 0},
    ]
    kinds = [row["kind"] for row in r.issue_rows()]
    assert kinds == ["error", "empty class folder", "skipped", "wrong size"] + ["duplicate"] * 2 + [
        "label conflict"
    ]
    conflict = r.issue_rows()[-1]
    assert conflict["path"] == "train/1/c, train/2/d" and "1 (一)" in conflict["detail"]
    assert "2 (二)" in conflict["detail"]


def test_dataset_error_carries_the_report():
    r = report()
    err = DatasetError(r)
    assert isinstance(err, ValueError) and err.report is r and "train/3" in str(err)
