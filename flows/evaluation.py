"""A trained classifier measured on the validation set, and its predictions for test images, as plain data.

`Evaluation` is what ``metrics.json`` holds; `prediction_rows` are the rows of ``test_predictions.csv``
(the columns of ``flows/predict.py``'s CSV: path, predicted_label (class folder), predicted_name (display
name), probability, and true_label when the image's class is known).
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from mlp.atomic import write_bytes
from mlp.inference import Classifier
from mlp.metrics import confusion_matrix

PREDICTION_COLUMNS = ("path", "predicted_label", "predicted_name", "probability")


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


def evaluate_classifier(
    classifier: Classifier,
    X: np.ndarray,
    y: np.ndarray,
    best_epochs: Sequence[int],
    test: PredictionCounts | None = None,
) -> Evaluation:
    """Evaluate on raw validation pixels X (n, h*w) with labels y (n,) in [0, n_classes)."""
    if len(X) == 0:
        raise ValueError("the validation set is empty: nothing to evaluate")
    proba = classifier.predict_proba(X)
    loss, accuracy = classifier.score(proba, y)
    predicted = proba.argmax(axis=1).astype(np.int64)
    cm = confusion_matrix(y, predicted, len(classifier.class_names))
    source = classifier.source if classifier.source is not None else Path()
    return Evaluation(source, tuple(best_epochs), float(loss), float(accuracy), cm, predicted, test)


def prediction_rows(
    classifier: Classifier, X: np.ndarray, paths: Sequence[str], y: np.ndarray | None = None
) -> tuple[list[dict[str, str]], PredictionCounts]:
    """One CSV row per image of raw pixels X (n, h*w) at `paths` (n,); with labels y (n,) (-1: unknown) each
    row also has true_label (the class folder, '' when unknown). Returns the rows and their counts."""
    if len(paths) != len(X) or (y is not None and len(y) != len(X)):
        n_labels = "no" if y is None else len(y)
        raise ValueError(f"X has {len(X)} rows but there are {len(paths)} paths and {n_labels} labels")
    proba = classifier.predict_proba(X)
    best = proba.argmax(axis=1)
    names, display = classifier.class_names, classifier.display_names
    rows = [
        {"path": str(p), "predicted_label": names[k], "predicted_name": display[k], "probability": f"{q:.6f}"}
        for p, k, q in zip(paths, best, proba[np.arange(len(best)), best], strict=True)
    ]
    labelled = np.zeros(len(X), bool) if y is None else np.asarray(y) >= 0
    if y is not None:
        for row, label in zip(rows, y, strict=True):
            row["true_label"] = names[label] if label >= 0 else ""
    accuracy = float(np.mean(best[labelled] == np.asarray(y)[labelled])) if labelled.any() else None
    return rows, PredictionCounts(len(rows), int(labelled.sum()), accuracy)


def write_predictions_csv(path: Path, rows: Sequence[dict[str, str]]) -> Path:
    """Write prediction rows as CSV (PREDICTION_COLUMNS, and true_label when the rows have it), atomically."""
    columns = list(PREDICTION_COLUMNS) + (["true_label"] if rows and "true_label" in rows[0] else [])
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return write_bytes(path, buffer.getvalue().encode("utf-8"))
