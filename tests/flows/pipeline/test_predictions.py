"""Prediction rows of a classifier known by hand: columns, true labels, accuracy over the labelled rows, and
the CSV read back."""

from __future__ import annotations

import csv

import numpy as np
import pytest

from flows.pipeline.classifier import Classifier
from flows.pipeline.predictions import PREDICTION_COLUMNS, Predictions
from tests.flows.hand_classifier import X, Y, hand_classifier, softmax


@pytest.fixture(scope="module")
def classifier() -> Classifier:
    return hand_classifier()


def test_rows_without_labels(classifier):
    predictions = Predictions.of(classifier, X[:3], ["test/x.bmp", "test/y.bmp", "test/z.bmp"])
    rows = predictions.rows()
    assert [r["predicted_label"] for r in rows] == ["a", "b", "c"]
    assert [r["predicted_name"] for r in rows] == ["甲", "乙", "丙"]
    assert rows[0]["probability"] == f"{softmax([2, 0, 1])[0]:.6f}"
    assert all(list(r) == list(PREDICTION_COLUMNS) for r in rows)
    assert predictions.accuracy is None and not predictions.labelled.any()


def test_rows_with_some_labels_score_only_those(classifier):
    predictions = Predictions.of(classifier, X, ["p", "q", "r", "s"], np.array([0, -1, 1, 1]))
    assert [r["true_label"] for r in predictions.rows()] == ["a", "", "b", "b"]
    assert predictions.labelled.tolist() == [True, False, True, True]
    assert predictions.accuracy == pytest.approx(1 / 3)  # p right; r, s wrong


def test_predictions_check_their_lengths(classifier):
    with pytest.raises(ValueError, match="X has 4 rows but there are 2 paths and no labels"):
        Predictions.of(classifier, X, ["p", "q"])


def test_predictions_csv_reads_back(classifier, tmp_path):
    predictions = Predictions.of(classifier, X, ["p", "q", "r", "s"], Y)
    rows = predictions.rows()
    path = predictions.write_csv(tmp_path / "test_predictions.csv")
    with open(path, newline="", encoding="utf-8") as handle:
        read = list(csv.DictReader(handle))
    assert list(read[0]) == [*PREDICTION_COLUMNS, "true_label"]
    assert read == rows
    unlabelled = Predictions.of(classifier, X, ["p", "q", "r", "s"])
    with open(unlabelled.write_csv(tmp_path / "u.csv"), encoding="utf-8") as handle:
        assert handle.readline().strip() == ",".join(PREDICTION_COLUMNS)
