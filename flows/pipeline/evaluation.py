"""The evaluate stage: the best checkpoint measured on the validation set (`Evaluation`, what
``metrics.json`` holds), and its predictions for the data's test/ images (``test_predictions.csv``, through
`flows.pipeline.predictions`)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from flows.pipeline.classifier import Classifier
from flows.pipeline.predictions import Predictions
from flows.pipeline.training import describe_epochs
from flows.store.layout import RunLayout
from mlp import load_checkpoint
from mlp.atomic import write_bytes
from mlp.data import files
from mlp.data.stream import read_rows
from mlp.metrics import confusion_matrix


@dataclass(frozen=True)
class PredictionCounts:
    """Predictions for a set of images (the data's test/ folder): how many, how many had a known class, and
    the accuracy on those (None without any)."""

    n: int
    n_labelled: int
    accuracy: float | None


@dataclass(frozen=True, eq=False)
class Evaluation:
    """The best checkpoint on the validation set: the best epoch of each of its networks, loss, accuracy,
    confusion (n_classes, n_classes) int64 with rows true, and the predicted class of every validation image
    (n_val,) int64."""

    checkpoint: Path
    best_epochs: tuple[int, ...]
    loss: float
    accuracy: float
    confusion: np.ndarray
    predicted: np.ndarray
    test: PredictionCounts | None = None

    @classmethod
    def measure(cls, classifier: Classifier, X: np.ndarray, y: np.ndarray, best_epochs: Sequence[int],
                test: PredictionCounts | None = None) -> Evaluation:
        """Measure `classifier` on raw validation pixels X (n, h*w) with labels y (n,) in [0, n_classes)."""
        if len(X) == 0:
            raise ValueError("the validation set is empty: nothing to evaluate")
        proba = classifier.predict_proba(X)
        loss, accuracy = classifier.score_proba(proba, y)
        predicted = proba.argmax(axis=1).astype(np.int64)
        cm = confusion_matrix(y, predicted, len(classifier.class_names))
        source = classifier.source if classifier.source is not None else Path()
        return cls(source, tuple(best_epochs), float(loss), float(accuracy), cm, predicted, test)

    def misclassified(self, y: np.ndarray) -> np.ndarray:
        """Indices (m,) of the validation images whose prediction differs from their labels y (n_val,)."""
        y = np.asarray(y)
        if y.shape != self.predicted.shape:
            raise ValueError(f"y has shape {y.shape}; the evaluation has {self.predicted.shape} predictions")
        return np.flatnonzero(self.predicted != y)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able; `from_dict` reads it back."""
        return {
            "checkpoint": str(self.checkpoint),
            "best_epochs": list(self.best_epochs),
            "validation": {
                "n": int(self.confusion.sum()),
                "loss": self.loss,
                "accuracy": self.accuracy,
                "confusion": self.confusion.tolist(),
                "predicted": self.predicted.tolist(),
            },
            "test": None if self.test is None else vars(self.test),
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Evaluation:
        val, test = d["validation"], d["test"]
        return cls(
            checkpoint=Path(d["checkpoint"]),
            best_epochs=tuple(int(e) for e in d["best_epochs"]),
            loss=float(val["loss"]),
            accuracy=float(val["accuracy"]),
            confusion=np.asarray(val["confusion"], np.int64),
            predicted=np.asarray(val["predicted"], np.int64),
            test=None if test is None else PredictionCounts(**test),
        )

    def save(self, path: Path) -> Path:
        """Write as JSON, atomically."""
        return write_bytes(path, (json.dumps(self.to_dict(), indent=1) + "\n").encode("utf-8"))

    @classmethod
    def load(cls, path: Path) -> Evaluation:
        return cls.from_dict(json.loads(Path(path).read_text(encoding="utf-8")))


@task(cache_policy=NO_CACHE)
def evaluate_model(layout: RunLayout) -> Evaluation:
    """Measure the best checkpoint on the validation set (metrics.json); predict test/ images if any."""
    checkpoint = load_checkpoint(layout.best)
    classifier = Classifier.from_loaded(checkpoint, layout.best)
    ds = files.read_index(layout.dataset)  # the test rows' pixels only are read
    test_rows = np.flatnonzero(ds.split == "test")
    test = None
    if len(test_rows):
        y = ds.y[test_rows]
        predictions = Predictions.of(classifier, read_rows(layout.dataset, test_rows)[0], ds.paths[test_rows],
                                     y if (y >= 0).any() else None)
        predictions.write_csv(layout.test_predictions)
        test = PredictionCounts(len(predictions.paths), int(predictions.labelled.sum()), predictions.accuracy)
        get_run_logger().info(f"Predicted {test.n} test images: {layout.test_predictions}")
    val = files.load_arrays(layout.val_data)
    evaluation = Evaluation.measure(classifier, val["X"], val["y"], checkpoint.metrics["best_epochs"], test)
    evaluation.save(layout.metrics)
    get_run_logger().info(f"Validation, {describe_epochs(evaluation.best_epochs)}: accuracy "
                          f"{evaluation.accuracy:.2%}, cross-entropy {evaluation.loss:.4f} (without label "
                          f"smoothing) on {len(val['y'])} images")
    return evaluation
