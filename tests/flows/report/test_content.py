"""The report's content: validated input, the rows of the artifacts and every value the report shows, by
hand: the summary, one number format, only the settings that applied, the promotion section, stage times."""

from __future__ import annotations

import json

import numpy as np
import pytest

from flows.report.content import (
    MAX_CONFUSION_CLASSES,
    SECTIONS,
    ReportData,
    TrainingExamples,
    duration,
    history_rows,
    library_versions,
    per_class_rows,
    percent,
    promotion_section,
    report_content,
    significant,
)
from flows.report.settings import configuration_table
from flows.report.table import Table
from tests.flows.report_samples import (
    CONFIG,
    FOLDERS,
    HISTORY,
    NAMES,
    QUALITY,
    WRITTEN,
    digits_images,
    sample_promotion,
    sample_report,
)

SPLIT = {"training split": [5, 4, 3], "validation split": [1, 1, 1]}


@pytest.fixture(scope="module")
def data() -> ReportData:
    return sample_report()


# ----------------------------------------------------------------------------------------- number formats
def test_one_number_format_accuracies_in_percent_losses_to_four_significant_digits():
    assert percent(0.9747) == "97.47%" and percent(None) == "n/a" and percent(float("nan")) == "n/a"
    assert percent(np.float32(1 / 3)) == "33.33%"
    assert significant(0.6) == "0.6000" and significant(0.0312345) == "0.03123"
    assert significant(1.23456) == "1.235"
    assert significant(12.0) == "12.00" and significant(None) == "n/a" and significant(float("nan")) == "n/a"
    assert duration(8.34) == "8.3 s" and duration(131) == "2 min 11 s" and duration(3900) == "1 h 5 min"


# ------------------------------------------------------------------------------------------ the artifacts
def test_per_class_rows_by_hand(data):
    assert per_class_rows(data) == [
        {"label": 0, "folder": "1", "name": "博", "samples": 6, "correct": 5,
         "accuracy": pytest.approx(5 / 6)},
        {"label": 1, "folder": "2", "name": "学", "samples": 4, "correct": 4, "accuracy": 1.0},
        {"label": 2, "folder": "3", "name": "笃", "samples": 0, "correct": 0, "accuracy": None},
    ]


def test_history_rows_are_json_ready_and_formatted_as_the_report_shows_numbers(data):
    float32_history = [{k: np.float32(v) for k, v in row.items()} for row in HISTORY]
    float32_history[1]["val_loss"] = np.float32(0.612345678)
    float32_history[1]["lr"] = np.float32(0.00099975328)
    rows = json.loads(json.dumps(history_rows(sample_report(history=float32_history))))
    assert rows[1] == {"member": "1", "epoch": 2, "train_loss": 0.5, "train_accuracy": "80.00%",
                       "val_loss": 0.6123, "val_accuracy": "90.00%", "lr": "0.001", "seconds": 0.4}
    assert rows[2]["lr"] == "0.0005"  # three significant digits: no 17-digit float, no cut-off column
    columns = ["member", "epoch", "train_loss", "train_accuracy", "val_loss", "val_accuracy", "lr", "seconds"]
    assert list(history_rows(data)[0]) == columns


# ---------------------------------------------------------------------------------------- what is shown
def test_one_network_by_hand(data):
    c = report_content(data)
    assert (c.run_name, c.n_validation, c.n_networks, c.test_time_shifts) == ("sample-run", 10, 1, False)
    assert c.sections == SECTIONS and c.selected_by == "lowest validation loss"
    assert c.accuracy == pytest.approx(0.9)  # (5 + 4) / 10
    assert (c.lone.epoch, c.lone.n_epochs, c.lone.val_accuracy, c.lone.val_loss) == (2, 3, 0.9, 0.6)
    assert (c.lone.train_accuracy, c.lone.train_loss) == (0.8, 0.5)
    assert c.best == Table(("network", "best epoch", "validation accuracy", "validation loss",
                            "training accuracy", "training loss"),
                           [("1", "2 of 3", "90.00%", "0.6000", "80.00%", "0.5000")])
    assert c.augmentation is None and c.loss_name == "" and c.promotion is None
    assert (c.n_misclassified, c.n_misclassified_shown) == (1, 1)


def test_an_ensemble_has_a_row_per_network_at_its_best_epoch():
    history = [{"member": m, **row} for m in ("1-raw", "2-framed") for row in HISTORY]
    data = sample_report(history=history, best_epochs={"1-raw": 2, "2-framed": 3}, test_time="shifts")
    c = report_content(data)
    assert c.lone is None and c.n_networks == 2 and c.test_time_shifts
    assert c.best.rows == (("1-raw", "2 of 3", "90.00%", "0.6000", "80.00%", "0.5000"),
                           ("2-framed", "3 of 3", "80.00%", "0.7000", "90.00%", "0.3000"))


def test_the_summary_says_data_date_duration_accuracy_and_promotion():
    data = sample_report(written=WRITTEN, split_counts=SPLIT, data_root="/data/sample", data_kind="given",
                         promotion=sample_promotion())
    assert dict(report_content(data).summary) == {
        "Data": "/data/sample (--data-dir): 15 images of 8x8 in 3 classes; 12 in the training split, 3 in "
                "the validation split",
        "Date": "2026-12-03 10:47 CET (report written)",
        "Duration": "8.0 s (the stages up to this report, see Stage times)",
        "Validation accuracy": "90.00% (1 of 10 images wrong)",
        "Promotion": "Champion old-run kept, challenger sample-run not promoted: compared on 10 images, "
                     "fewer than the 200 required.",
    }
    bare = dict(report_content(sample_report(quality=None, stage_seconds={})).summary)
    assert bare == {"Data": "3 classes of 8x8 images", "Validation accuracy": "90.00% (1 of 10 images wrong)",
                    "Promotion": "no decision was made"}


def test_the_summary_of_an_ensemble_with_shifts_on_the_demo():
    history = [{"member": m, **row} for m in ("1-raw", "2-framed") for row in HISTORY]
    data = sample_report(history=history, best_epochs={"1-raw": 2, "2-framed": 3}, test_time="shifts",
                         data_root="/repo/data/demo", data_kind="demo")
    summary = dict(report_content(data).summary)
    assert summary["Data"].startswith("/repo/data/demo (the built-in digits demo): 15 images")
    assert summary["Validation accuracy"] == ("90.00% (1 of 10 images wrong, an ensemble of 2 networks, each "
                                              "image also shifted by one pixel)")


def test_the_promotion_section_by_hand():
    section = promotion_section(sample_promotion())
    assert section.sentence == ("Champion old-run kept, challenger sample-run not promoted: compared on 10 "
                                "images, fewer than the 200 required.")
    assert section.scores == Table(("model", "run", "validation accuracy", "validation loss"), [
        ("challenger (this run)", "sample-run", "90.00%", "0.3123"),
        ("champion before", "old-run", "80.00%", "0.5000")])
    assert section.compared == ("Scored on 10 of this run's validation images, each model through its own "
                                "saved normaliser; 2 left out because the champion was trained on them.")
    first = promotion_section(sample_promotion(
        promoted=True, reason="no model was promoted on this data before", champion_accuracy=None,
        champion_loss=None, champion_run="sample-run", previous_champion_run=None, n_excluded=0))
    assert first.sentence == ("Challenger sample-run promoted, the first champion: no model was promoted on "
                              "this data before.")
    assert first.scores.rows[1] == ("champion before", "none", "n/a", "n/a")
    nothing = promotion_section(sample_promotion(n_samples=0, n_excluded=10, challenger_accuracy=None,
                                                 challenger_loss=None, champion_accuracy=None))
    assert nothing.compared == ("No validation image was left to compare the two on: the champion was "
                                "trained on all 10 of them.")
    assert report_content(sample_report(promotion=sample_promotion())).promotion == section


def test_tables_by_hand(data):
    c = report_content(data)
    assert c.confusion == Table(("true \\ predicted", *NAMES),
                                [("博", 5, 1, 0), ("学", 0, 4, 0), ("笃", 0, 0, 0)])
    assert c.per_class.rows == (
        (0, "1", "博", 6, 5, "83.33%"), (1, "2", "学", 4, 4, "100.00%"), (2, "3", "笃", 0, 0, "n/a"))
    assert c.versions.rows == (("python", "3.11.7"), ("numpy", "2.4.6"))


def test_stage_times_count_the_report_up_to_its_writing(data):
    c = report_content(data)
    assert c.stage_times.rows == (
        ("ingest", 1.5, "18.75%"), ("train", 6.0, "75.00%"), ("report", 0.5, "6.25%"), ("total", 8.0, "100%"))
    assert c.stage_note.startswith("The report's time is counted up to the writing of these files")
    without = report_content(sample_report(stage_seconds={"train": 2.0, "promotion": 0.5}))
    assert without.stage_times.rows[-1] == ("total", 2.5, "100%")
    assert without.stage_note == "The report's own time is not included."
    assert report_content(sample_report(stage_seconds={})).stage_times.rows == (("total", 0.0, "n/a"),)


# ------------------------------------------------------------------------------------------ configuration
def test_the_configuration_shows_only_the_settings_that_applied(data):
    table = report_content(data).configuration
    assert table.headers == ("group", "setting", "value")
    settings = {name: value for _, name, value in table.rows}
    # AdamW on a cosine schedule, no augmentation: no momentum, Nesterov, step size, factor or distortions.
    for absent in ("momentum", "nesterov", "step_size", "gamma", "distort_rotate", "distort_elastic",
                   "init_scale", "clip_grad_norm", "patience"):
        assert absent not in settings
    assert settings["weight_decay"] == "0.01 (adamw's own)" and settings["beta1"] == "0.9"
    assert settings["min_lr"] == "0" and settings["label_smoothing"] == "0.1"
    assert settings["layer_sizes"] == "64, 500, 3" and settings["data_dir"] == "data/demo"
    assert [group for group, _, _ in table.rows if group] == ["data", "network", "training", "augmentation"]
    assert table.rows[0] == ("data", "data_dir", "data/demo") and table.rows[1][0] == ""


def test_other_optimisers_schedules_and_augmentations_show_their_own_settings():
    config = {group: dict(settings) for group, settings in CONFIG.items()}
    config["training"].update(optimizer="sgd", schedule="step", loss="mse", patience=5, clip_grad_norm=1.0)
    config["augmentation"].update(augment="distort", distort_elastic=34.0, distort_sigma=4.0)
    config["network"].update(init="normal", dropout=0.0, batchnorm=True, parameters=1_333_770)
    settings = {name: value for _, name, value in configuration_table(config).rows}
    assert settings["momentum"] == "0.9" and settings["nesterov"] == "no"
    assert settings["step_size"] == "10" and settings["gamma"] == "0.1"
    assert settings["weight_decay"] == "0 (sgd's own)" and settings["patience"] == "5"
    assert settings["distort_elastic"] == "34" and settings["distort_sigma"] == "4"
    assert settings["init_scale"] == "0.01" and settings["batchnorm"] == "yes"
    assert settings["parameters"] == "1,333,770"
    for absent in ("beta1", "min_lr", "label_smoothing"):
        assert absent not in settings
    config["training"]["momentum"] = 0.0
    assert "nesterov" not in {name for _, name, _ in configuration_table(config).rows}


def test_settings_without_a_group_and_nested_settings():
    table = configuration_table({"hidden": [1024, 512], "data": {"dir": "/d", "split": {"seed": 3}}})
    assert table.rows == (("", "hidden", "1024, 512"), ("data", "dir", "/d"), ("", "split.seed", "3"))


# ---------------------------------------------------------------------------------------------- the rest
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


def test_table_shape():
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
        ({"split_counts": {"training split": [1, 2]}}, r"split_counts\['training split'\] has 2 counts"),
        ({"data_kind": "elsewhere"}, "data_kind must be one of given, raw, demo, got 'elsewhere'"),
    ],
)
def test_bad_report_data_is_named(changes, match):
    with pytest.raises(ValueError, match=match):
        sample_report(**changes)


def test_quality_and_promotion_must_be_typed():
    with pytest.raises(TypeError, match="quality must be a DataQuality, got dict"):
        sample_report(quality={"n_images": 13})
    with pytest.raises(TypeError, match="promotion must be a Promotion, got str"):
        sample_report(promotion="promoted")
    assert report_content(sample_report(quality=None)).quality is None
    assert list(QUALITY.class_names) == FOLDERS and list(QUALITY.display_names) == NAMES
