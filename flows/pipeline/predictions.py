"""A classifier's predictions for a set of images, and their CSV rows: the one home of the columns of
``test_predictions.csv`` (a run's test/ images) and of ``flows/predict.py``'s CSV.

Columns: path, predicted_label (the class folder), predicted_name (its display name), probability (of the
predicted class), and true_label when the images' classes are known (the class folder, or '' for an image
outside the model's classes).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from flows.pipeline.classifier import Classifier
from flows.store.tables import write_csv
from mlp.metrics import accuracy

PREDICTION_COLUMNS = ("path", "predicted_label", "predicted_name", "probability")


@dataclass(frozen=True, eq=False)
class Predictions:
    """n predicted images: paths, predicted (n,) class indices, probability (n,) of the predicted class, y
    (n,) true class indices (-1: outside the model's classes) or None when unknown, the model's class and
    display names, the files left out (one line each), and the folders whose images were predicted but are
    unlabelled (not one of the model's classes)."""

    paths: tuple[str, ...]
    predicted: np.ndarray
    probability: np.ndarray
    y: np.ndarray | None
    class_names: tuple[str, ...]
    display_names: tuple[str, ...]
    problems: tuple[str, ...] = ()
    unlabelled: tuple[str, ...] = ()

    @classmethod
    def of(cls, classifier: Classifier, X: np.ndarray, paths: Sequence[str], y: np.ndarray | None = None,
           problems: Sequence[str] = (), unlabelled: Sequence[str] = ()) -> Predictions:
        """Predict raw pixels X (n, h*w) of the images at `paths` (n,), with true classes y (n,) if known."""
        if len(paths) != len(X) or (y is not None and len(y) != len(X)):
            n_labels = "no" if y is None else len(y)
            raise ValueError(f"X has {len(X)} rows but there are {len(paths)} paths and {n_labels} labels")
        proba = classifier.predict_proba(X)
        predicted = proba.argmax(axis=1)
        return cls(tuple(str(p) for p in paths), predicted, proba[np.arange(len(predicted)), predicted],
                   None if y is None else np.asarray(y), tuple(classifier.class_names),
                   tuple(classifier.display_names), tuple(problems), tuple(unlabelled))

    @property
    def labelled(self) -> np.ndarray:
        """(n,) bool: rows whose true class is one of the model's."""
        return np.zeros(len(self.paths), bool) if self.y is None else self.y >= 0

    @property
    def accuracy(self) -> float | None:
        """Accuracy over the labelled rows; None when there are none."""
        mask = self.labelled
        return accuracy(self.y[mask], self.predicted[mask]) if mask.any() else None

    @property
    def columns(self) -> tuple[str, ...]:
        return (*PREDICTION_COLUMNS, "true_label") if self.y is not None else PREDICTION_COLUMNS

    def rows(self) -> list[dict[str, str]]:
        """The CSV rows, with `columns`."""
        out = []
        for i, (path, k, p) in enumerate(zip(self.paths, self.predicted, self.probability, strict=True)):
            row = {"path": path, "predicted_label": self.class_names[k],
                   "predicted_name": self.display_names[k], "probability": f"{p:.6f}"}
            if self.y is not None:
                row["true_label"] = self.class_names[self.y[i]] if self.y[i] >= 0 else ""
            out.append(row)
        return out

    def write_csv(self, path: str | Path) -> Path:
        """Write the rows as CSV, atomically; return the path."""
        return write_csv(path, self.rows(), self.columns)
