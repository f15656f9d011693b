"""A small, hand-checkable ReportData shared by the report, figures and artifacts tests (not a test module).

Three classes 博, 学, 笃 (folders 1, 2, 3). Validation: class 1 has 6 images, 5 right and 1 taken for 学;
class 2 has 4, all right; class 3 has none. The one misclassified image is a real digits image.
"""

from __future__ import annotations

import numpy as np
from sklearn.datasets import load_digits

from flows.pipeline.demo_data import digits_to_pixels
from flows.report.content import ReportData

FOLDERS = ["1", "2", "3"]
NAMES = ["博", "学", "笃"]
CONFUSION = np.array([[5, 1, 0], [0, 4, 0], [0, 0, 0]])
_COLUMNS = ("epoch", "train_loss", "train_accuracy", "val_loss", "val_accuracy", "lr", "seconds")
_VALUES = [
    (1, 1.0, 0.5, 1.1, 0.4, 1e-3, 0.5),
    (2, 0.5, 0.8, 0.6, 0.9, 1e-3, 0.4),
    (3, 0.3, 0.9, 0.7, 0.8, 5e-4, 0.4),
]
HISTORY = [dict(zip(_COLUMNS, values, strict=True)) for values in _VALUES]
QUALITY = {
    "n_images": 13,
    "counts": {"1": 6, "2": 4, "3": 3},
    "skipped": [{"path": "train/3/bad.bmp", "reason": "cannot identify image file"}],
    "duplicates": [["train/1/4.bmp", "train/1/9.bmp"]],
    "label_conflicts": [],
}


def digits_images(n: int) -> np.ndarray:
    """The first n scikit-learn digits as (n, 64) uint8 pixels, dark ink on white."""
    return digits_to_pixels(load_digits().images[:n]).reshape(n, -1)


def sample_report(**changes) -> ReportData:
    """The sample ReportData, with any field replaced by `changes`."""
    fields = {
        "run_name": "sample-run",
        "config": {"hidden": (500,), "lr": 1e-3, "optimizer": "adam", "data": {"dir": "data/demo"}},
        "history": HISTORY,
        "best_epochs": {"1": 2},
        "class_names": FOLDERS,
        "display_names": NAMES,
        "confusion": CONFUSION,
        "misclassified": digits_images(1),
        "image_shape": (8, 8),
        "misclassified_true": np.array([0]),
        "misclassified_pred": np.array([1]),
        "quality": QUALITY,
        "stage_seconds": {"ingest": 1.5, "train": 6.0, "report": 0.5},
        "versions": {"python": "3.11.7", "numpy": "2.4.6"},
    }
    return ReportData(**{**fields, **changes})
