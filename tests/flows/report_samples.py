"""A small, hand-checkable ReportData shared by the report, figures and artifacts tests (not a test module).

Three classes 博, 学, 笃 (folders 1, 2, 3). Validation: class 1 has 6 images, 5 right and 1 taken for 学;
class 2 has 4, all right; class 3 has none. The one misclassified image is a real digits image. The data
quality is a real `QualityReport` with one issue of each common kind but label conflicts. The settings
(`CONFIG`) hold some that do not apply to the run; `sample_promotion` is a promotion decision about it.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
from sklearn.datasets import load_digits

from flows.pipeline.demo_data import digits_to_pixels
from flows.report.content import ReportData
from flows.report.quality import DataQuality
from flows.store.champion import Promotion
from flows.store.mcnemar import TEST_NAME, PairedCounts
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


# The run's settings as the report stage groups them: AdamW on a cosine schedule without augmentation, with
# settings that do not apply to it (sgd's momentum and Nesterov, the step schedule's step size and factor,
# the distortions' ranges), which the report leaves out.
CONFIG = {
    "data": {"data_dir": "data/demo", "val_fraction": 0.1, "seed": 0},
    "network": {"layer_sizes": (64, 500, 3), "activation": "relu", "init": "he", "init_scale": 0.01},
    "training": {"epochs": 3, "batch_size": 64, "optimizer": "adamw", "lr": 1e-3, "weight_decay": None,
                 "momentum": 0.9, "nesterov": False, "beta1": 0.9, "loss": "cross_entropy",
                 "label_smoothing": 0.1, "schedule": "cosine", "step_size": 10, "gamma": 0.1, "min_lr": 0.0,
                 "clip_grad_norm": None, "patience": None},
    "augmentation": {"augment": "none", "distort_rotate": 10.0, "distort_elastic": 0.0},
}


# When the sample reports were written, in a named zone (the summary shows it).
WRITTEN = datetime(2026, 12, 3, 10, 47, tzinfo=timezone(timedelta(hours=1), "CET"))


def sample_promotion(**changes) -> Promotion:
    """A decision on 10 validation images, 2 left out: challenger sample-run (90%) kept out by champion
    old-run (80%): McNemar's test on 1 image won against 0 cannot tell them apart."""
    counts = PairedCounts(8, 1, 0, 1)
    fields = {
        "promoted": False, "reason": "compared on 10 images, fewer than the 200 required",
        "challenger_accuracy": 0.9, "challenger_loss": 0.31234, "champion_accuracy": 0.8,
        "champion_loss": 0.5, "n_samples": 10, "n_excluded": 2, "counts": counts, "p_value": counts.p_value,
        "significance_test": TEST_NAME, "min_samples": 200, "alpha": 0.05, "champion_run": "old-run",
        "champion_path": Path("/m/versions/old-run/model.npz"), "challenger_run": "sample-run",
        "previous_champion_run": "old-run",
    }
    return Promotion(**{**fields, **changes})


def digits_images(n: int) -> np.ndarray:
    """The first n scikit-learn digits as (n, 64) uint8 pixels, dark ink on white."""
    return digits_to_pixels(load_digits().images[:n]).reshape(n, -1)


def sample_report(**changes) -> ReportData:
    """The sample ReportData, with any field replaced by `changes`."""
    fields = {
        "run_name": "sample-run",
        "config": CONFIG,
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
