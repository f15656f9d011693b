"""The report's content: validated input, the rows of the artifacts and every value the report shows, by
hand; the data-quality section and artifact from a real QualityReport."""

from __future__ import annotations

import json

import numpy as np
import pytest

from flows.report.content import (
    MAX_CONFUSION_CLASSES,
    ReportData,
    TrainingExamples,
    history_rows,
    library_versions,
    per_class_rows,
    percent,
    report_content,
)
from flows.report.table import Table
from tests.flows.report_samples import (
    FOLDERS,
    HISTORY,
    NAMES,
    QUALITY,
    digits_images,
    sample_report,
)


@pytest.fixture(scope="module")
def data() -> ReportData:
    return sample_report()


# ------------------------------------------------------------------------------------------ the artifacts
def test_per_class_rows_by_hand(data):
    assert per_class_rows(data) == [
        {"label": 0, "folder": "1", "name": "博", "samples": 6, "correct": 5,
         "accuracy": pytest.approx(5 / 6)},
        {"label": 1, "folder": "2", "name": "学", "samples": 4, "correct": 4, "accuracy": 1.0},
        {"label": 2, "folder": "3", "name": "笃", "samples": 0, "correct": 0, "accuracy": None},
    ]


def test_history_rows_are_json_ready(data):
    float32_history = [{k: np.float32(v) for k, v in row.items()} for row in HISTORY]
    rows = history_rows(sample_report(history=float32_history))
    assert json.loads(json.dumps(rows))[1]["val_accuracy"] == pytest.approx(0.9)
    columns = ["member", "epoch", "train_loss", "train_accuracy", "val_loss", "val_accuracy", "lr", "seconds"]
    assert list(history_rows(data)[0]) == columns


# ---------------------------------------------------------------------------------------- what is shown
def test_one_network_by_hand(data):
    c = report_content(data)
    assert (c.run_name, c.n_validation, c.n_networks, c.test_time_shifts) == ("sample-run", 10, 1, False)
    assert c.accuracy == pytest.approx(0.9)  # (5 + 4) / 10
    assert (c.lone.epoch, c.lone.n_epochs, c.lone.val_accuracy, c.lone.val_loss) == (2, 3, 0.9, 0.6)
    assert (c.lone.train_accuracy, c.lone.train_loss) == (0.8, 0.5)
    assert c.best == Table(("metric", "value"), [("epoch", 2), ("train_loss", 0.5), ("train_accuracy", 0.8),
                                                 ("val_loss", 0.6), ("val_accuracy", 0.9), ("lr", 1e-3),
                                                 ("seconds", 0.4)])
    assert c.augmentation is None and c.loss_name == ""
    assert (c.n_misclassified, c.n_misclassified_shown) == (1, 1)


def test_an_ensemble_has_a_row_per_network_at_its_best_epoch():
    history = [{"member": m, **row} for m in ("1-raw", "2-framed") for row in HISTORY]
    data = sample_report(history=history, best_epochs={"1-raw": 2, "2-framed": 3}, test_time="shifts")
    c = report_content(data)
    assert c.lone is None and c.n_networks == 2 and c.test_time_shifts
    assert c.best.headers == ("network", "epoch", "train_loss", "train_accuracy", "val_loss", "val_accuracy",
                              "lr", "seconds")
    assert c.best.rows == (("1-raw", 2, 0.5, 0.8, 0.6, 0.9, 1e-3, 0.4),
                           ("2-framed", 3, 0.3, 0.9, 0.7, 0.8, 5e-4, 0.4))


def test_tables_by_hand(data):
    c = report_content(data)
    assert c.confusion == Table(("true \\ predicted", *NAMES),
                                [("博", 5, 1, 0), ("学", 0, 4, 0), ("笃", 0, 0, 0)])
    assert c.per_class.rows == (
        (0, "1", "博", 6, 5, "83.33%"), (1, "2", "学", 4, 4, "100.00%"), (2, "3", "笃", 0, 0, "n/a"))
    assert c.configuration.rows == (
        ("hidden", "[500]"), ("lr", "0.001"), ("optimizer", "adam"), ("data.dir", "data/demo"))
    assert c.stage_times.rows == (
        ("ingest", 1.5, "18.75%"), ("train", 6.0, "75.00%"), ("report", 0.5, "6.25%"), ("total", 8.0, "100%"))
    assert c.versions.rows == (("python", "3.11.7"), ("numpy", "2.4.6"))
    assert report_content(sample_report(stage_seconds={})).stage_times.rows == (("total", 0.0, "n/a"),)


def test_many_classes_have_no_confusion_table_and_many_mistakes_show_the_first():
    n = MAX_CONFUSION_CLASSES + 1
    names = [str(k) for k in range(n)]
    wrong = digits_images(60)
    data = sample_report(class_names=names, display_names=names, confusion=np.eye(n, dtype=int),
                         misclassified=wrong, misclassified_true=np.zeros(60, int),
                         misclassified_pred=np.ones(60, int))
    c = report_content(data)
    assert c.confusion is None and len(c.per_class.rows) == n
    assert (c.n_misclassified, c.n_misclassified_shown) == (60, 48)


def test_augmentation_is_described_by_the_examples():
    examples = TrainingExamples(digits_images(2), np.array([0, 1]), np.stack([digits_images(2)] * 3, axis=1),
                                "Shifted by one pixel.")
    assert report_content(sample_report(examples=examples)).augmentation == "Shifted by one pixel."


def test_percent_and_table_shape():
    assert percent(0.5) == "50.00%" and percent(None) == "n/a" and percent(float("nan")) == "n/a"
    assert percent(np.float32(1 / 3)) == "33.33%"
    with pytest.raises(ValueError, match=r"a row of the table \['a', 'b'\] has 1 cells: \[1\]"):
        Table(("a", "b"), [(1, 2), (1,)])


# ---------------------------------------------------------------------------------------------- the input
def test_library_versions_name_the_packages():
    versions = library_versions()
    assert {"python", "numpy", "prefect", "pyarrow", "pillow", "jinja2", "mlpflow"} <= set(versions)
    assert versions["numpy"] == np.__version__


@pytest.mark.parametrize(
    ("changes", "match"),
    [
        ({"history": []}, "history is empty"),
        ({"history": [{"epoch": 1, "train_loss": 1.0}]}, r"lacks \['train_accuracy'"),
        ({"best_epochs": {"1": 7}}, r"best epoch 7 of 1 is not in its history's epochs \[1, 2, 3\]"),
        ({"best_epochs": {"2": 2}}, r"best_epochs names \['2'\]; the history's networks are \['1'\]"),
        ({"display_names": ["博", "学"]}, "got 3 and 2"),
        ({"confusion": np.ones((2, 2), int)}, r"\(3, 3\).*got \(2, 2\)"),
        ({"confusion": np.ones((3, 3))}, "float64"),
        ({"misclassified": digits_images(1).astype(np.float32)}, "uint8"),
        ({"image_shape": (7, 8)}, r"\(m, h\*w\).*\(1, 64\).*\(7, 8\)"),
        ({"misclassified_pred": np.array([3])}, r"misclassified_pred holds class indices outside \[0, 3\)"),
        ({"misclassified_true": np.array([0, 1])}, r"misclassified_true must be \(1,\)"),
        ({"run_name": ""}, "run_name"),
    ],
)
def test_bad_report_data_is_named(changes, match):
    with pytest.raises(ValueError, match=match):
        sample_report(**changes)


def test_quality_must_be_typed():
    with pytest.raises(TypeError, match="quality must be a DataQuality, got dict"):
        sample_report(quality={"n_images": 13})
    assert report_content(sample_report(quality=None)).quality is None
    assert list(QUALITY.class_names) == FOLDERS and list(QUALITY.display_names) == NAMES
