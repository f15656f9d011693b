"""Evaluation of a classifier whose outputs are known by hand; metrics.json and the predictions CSV."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np
import pytest

from flows.evaluation import (
    PREDICTION_COLUMNS,
    Evaluation,
    PredictionCounts,
    evaluate_classifier,
    prediction_rows,
    write_predictions_csv,
)
from mlp import MLP
from mlp.data.transforms import fit_normalizer
from mlp.inference import Classifier, Member

# 1x2 images, white 255 or black 0; the unit normaliser turns them into 1 and 0. Logits = x @ W + b:
# (1, 0) -> (2, 0, 1): class 0; (0, 1) -> (0, 2, 1): class 1; (0, 0) -> (0, 0, 1): class 2;
# (1, 1) -> (2, 2, 1): a tie that argmax gives to class 0.
W = np.array([[2.0, 0.0, 0.0], [0.0, 2.0, 0.0]])
B = np.array([0.0, 0.0, 1.0])
X = np.array([[255, 0], [0, 255], [0, 0], [255, 255]], np.uint8)
Y = np.array([0, 1, 2, 1])


def _softmax(logits: list[float]) -> list[float]:
    total = sum(math.exp(v) for v in logits)
    return [math.exp(v) / total for v in logits]


@pytest.fixture(scope="module")
def classifier() -> Classifier:
    model = MLP([2, 3])
    params = model.params()
    params["fc0.W"][...] = W
    params["fc0.b"][...] = B
    member = Member(model, fit_normalizer(X, "unit"))
    return Classifier((member,), ("a", "b", "c"), ("甲", "乙", "丙"), (1, 2),
                      source=Path("runs/r/checkpoints/best.npz"))


def test_evaluation_matches_the_hand_computed_values(classifier):
    evaluation = evaluate_classifier(classifier, X, Y, best_epochs=[7])
    expected_loss = -sum(math.log(p) for p in (
        _softmax([2, 0, 1])[0], _softmax([0, 2, 1])[1], _softmax([0, 0, 1])[2], _softmax([2, 2, 1])[1]
    )) / 4
    assert evaluation.loss == pytest.approx(expected_loss, rel=1e-6)
    assert evaluation.accuracy == 0.75 and evaluation.best_epochs == (7,)
    assert evaluation.predicted.tolist() == [0, 1, 2, 0]
    assert evaluation.confusion.tolist() == [[1, 0, 0], [1, 1, 0], [0, 0, 1]]
    assert evaluation.misclassified(Y).tolist() == [3]
    assert evaluation.checkpoint == Path("runs/r/checkpoints/best.npz")


def test_an_empty_validation_set_and_mismatched_labels_are_refused(classifier):
    with pytest.raises(ValueError, match="validation set is empty"):
        evaluate_classifier(classifier, X[:0], Y[:0], best_epochs=[1])
    with pytest.raises(ValueError, match=r"y has shape \(3,\); the evaluation has \(4,\)"):
        evaluate_classifier(classifier, X, Y, best_epochs=[1]).misclassified(Y[:3])


def test_metrics_json_round_trips(classifier, tmp_path):
    evaluation = evaluate_classifier(classifier, X, Y, best_epochs=[3, 5], test=PredictionCounts(5, 2, 0.5))
    path = evaluation.save(tmp_path / "metrics.json")
    loaded = Evaluation.load(path)
    assert loaded.to_dict() == evaluation.to_dict()
    assert loaded.confusion.dtype == np.int64 and loaded.test == PredictionCounts(5, 2, 0.5)
    assert loaded.to_dict()["validation"]["n"] == 4


def test_prediction_rows_without_labels(classifier):
    rows, result = prediction_rows(classifier, X[:3], ["test/x.bmp", "test/y.bmp", "test/z.bmp"])
    assert [r["predicted_label"] for r in rows] == ["a", "b", "c"]
    assert [r["predicted_name"] for r in rows] == ["甲", "乙", "丙"]
    assert rows[0]["probability"] == f"{_softmax([2, 0, 1])[0]:.6f}"
    assert all(list(r) == list(PREDICTION_COLUMNS) for r in rows)
    assert result == PredictionCounts(n=3, n_labelled=0, accuracy=None)


def test_prediction_rows_with_some_labels_score_only_those(classifier):
    rows, result = prediction_rows(classifier, X, ["p", "q", "r", "s"], np.array([0, -1, 1, 1]))
    assert [r["true_label"] for r in rows] == ["a", "", "b", "b"]
    assert result == PredictionCounts(n=4, n_labelled=3, accuracy=pytest.approx(1 / 3))  # p right; r, s wrong


def test_prediction_rows_check_their_lengths(classifier):
    with pytest.raises(ValueError, match="X has 4 rows but there are 2 paths and no labels"):
        prediction_rows(classifier, X, ["p", "q"])


def test_predictions_csv_reads_back(classifier, tmp_path):
    rows, _ = prediction_rows(classifier, X, ["p", "q", "r", "s"], Y)
    path = write_predictions_csv(tmp_path / "test_predictions.csv", rows)
    with open(path, newline="", encoding="utf-8") as handle:
        read = list(csv.DictReader(handle))
    assert list(read[0]) == [*PREDICTION_COLUMNS, "true_label"]
    assert read == rows
    unlabelled, _ = prediction_rows(classifier, X, ["p", "q", "r", "s"])
    with open(write_predictions_csv(tmp_path / "u.csv", unlabelled), encoding="utf-8") as handle:
        assert handle.readline().strip() == ",".join(PREDICTION_COLUMNS)
