"""Evaluation of a classifier whose outputs are known by hand, and metrics.json."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from flows.pipeline.classifier import Classifier
from flows.pipeline.evaluation import Evaluation, PredictionCounts
from tests.flows.hand_classifier import X, Y, hand_classifier, softmax


@pytest.fixture(scope="module")
def classifier() -> Classifier:
    return hand_classifier()


def test_evaluation_matches_the_hand_computed_values(classifier):
    evaluation = Evaluation.measure(classifier, X, Y, best_epochs=[7])
    expected_loss = -sum(math.log(p) for p in (
        softmax([2, 0, 1])[0], softmax([0, 2, 1])[1], softmax([0, 0, 1])[2], softmax([2, 2, 1])[1]
    )) / 4
    assert evaluation.loss == pytest.approx(expected_loss, rel=1e-6)
    assert evaluation.accuracy == 0.75 and evaluation.best_epochs == (7,)
    assert evaluation.predicted.tolist() == [0, 1, 2, 0]
    assert evaluation.confusion.tolist() == [[1, 0, 0], [1, 1, 0], [0, 0, 1]]
    assert evaluation.misclassified(Y).tolist() == [3]
    assert evaluation.checkpoint == Path("runs/r/checkpoints/best.npz")


def test_an_empty_validation_set_and_mismatched_labels_are_refused(classifier):
    with pytest.raises(ValueError, match="validation set is empty"):
        Evaluation.measure(classifier, X[:0], Y[:0], best_epochs=[1])
    with pytest.raises(ValueError, match=r"y has shape \(3,\); the evaluation has \(4,\)"):
        Evaluation.measure(classifier, X, Y, best_epochs=[1]).misclassified(Y[:3])


def test_metrics_json_round_trips(classifier, tmp_path):
    evaluation = Evaluation.measure(classifier, X, Y, best_epochs=[3, 5], test=PredictionCounts(5, 2, 0.5))
    path = evaluation.save(tmp_path / "metrics.json")
    loaded = Evaluation.load(path)
    assert loaded.to_dict() == evaluation.to_dict()
    assert loaded.confusion.dtype == np.int64 and loaded.test == PredictionCounts(5, 2, 0.5)
    assert loaded.to_dict()["validation"]["n"] == 4
