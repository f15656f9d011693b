"""A small, hand-checkable ReportData shared by the report, figures and artifacts tests (not a test module).

Three classes 博, 学, 笃 (folders 1, 2, 3). Validation: class 1 has 6 images, 5 right and 1 taken for 学;
class 2 has 4, all right; class 3 has none. The one misclassified image is a real digits image. The data
quality is a real `QualityReport` with one issue of each common kind but label conflicts.
"""

from __future__ import annotations

import numpy as np
from sklearn.datasets import load_digits

from flows.pipeline.demo_data import digits_to_pixels
from flows.report.content import ReportData
from flows.report.quality import DataQuality
from mlp.data.quality import DuplicateGroup, QualityReport, Skipped, WrongSize

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
# The data set's quality: 13 training images (6, 4 and 3 per class), 2 unlabelled test images, a file that
# could not be read, a wrong-size image and one duplicate pair; ingest decoded 3 files and reused 13.
QUALITY = QualityReport(
    root="data/sample",
    image_shape=(8, 8),
    class_names=tuple(FOLDERS),
    display_names=tuple(NAMES),
    counts={"train": {"1": 6, "2": 4, "3": 3}, "test": {"": 2}},
    skipped=(Skipped("train/3/bad.bmp", "cannot identify image file"),),
    wrong_size=(WrongSize("train/2/big.bmp", (10, 8), (8, 8)),),
    duplicates=(DuplicateGroup("5e1f", ("train/1/4.bmp", "train/1/9.bmp"), ("1", "1")),),
)
DATA_QUALITY = DataQuality(QUALITY, n_decoded=3, n_reused=13)


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
        "quality": DATA_QUALITY,
        "stage_seconds": {"ingest": 1.5, "train": 6.0, "report": 0.5},
        "versions": {"python": "3.11.7", "numpy": "2.4.6"},
    }
    return ReportData(**{**fields, **changes})
