"""Predict the class of every image in a folder with a trained model, as a Prefect flow (`mlpflow predict`,
``python flows/predict.py``; its ``--help`` says what the flags take and what the CSV holds).

The model applies the preprocessing stored in its checkpoint to the raw pixels; the rows are
`flows.pipeline.predictions.Predictions`. Unreadable images and images of another size than the model's are
left out and listed (in the log and the `prediction-summary` artifact), not fatal; folders that are not one
of the model's classes are predicted without a true label and named.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE

from flows.pipeline.classifier import Classifier
from flows.pipeline.predictions import Predictions
from flows.report.content import percent
from flows.report.render import render_template
from flows.report.table import Table
from flows.store.layout import resolve_model
from mlp.data import files
from mlp.data.dataset import LoadedImages
from mlp.data.quality import Skipped, WrongSize

PREDICTION_SUMMARY = "prediction-summary"  # the markdown artifact's key
MAX_LISTED = 50  # problems listed one by one in the artifact




def describe(problem: Skipped | WrongSize) -> str:
    """One line for a file left out of the predictions."""
    if isinstance(problem, WrongSize):
        (h, w), (eh, ew) = problem.shape, problem.expected
        return f"{problem.path}: {h}x{w} pixels, the model takes {eh}x{ew}"
    return f"{problem.path}: {problem.reason}"




def unlabelled_folders(images: LoadedImages) -> tuple[str, ...]:
    """The top-level folders whose images were read but are not one of the classes (labelled -1), sorted."""
    if images.y is None:
        return ()
    return tuple(sorted({path.split("/", 1)[0] for path, k in zip(images.paths, images.y, strict=True)
                         if k < 0 and "/" in path}))


def classify(classifier: Classifier, images: LoadedImages) -> Predictions:
    """Predict the images (X (n, h*w) raw pixels) with the classifier."""
    unlabelled = unlabelled_folders(images)
    # load_images also lists each such folder among its problems; its images were predicted, not left out.
    left_out = [p for p in images.problems if not (isinstance(p, Skipped) and p.path in unlabelled)]
    return Predictions.of(classifier, images.X, images.paths, images.y, [describe(p) for p in left_out],
                          unlabelled)


def unlabelled_note(predictions: Predictions) -> str:
    """One sentence on the images predicted without a true label in folders that are not classes; "" for
    none."""
    if not predictions.unlabelled:
        return ""
    n = sum(path.split("/", 1)[0] in predictions.unlabelled for path in predictions.paths)
    return (f"{n} images in folders that are not one of the model's classes ({folder_list(predictions)}) "
            "were predicted without a true label (true_label empty, not counted in the accuracy).")


def folder_list(predictions: Predictions | PredictionSummary, most: int = 10) -> str:
    """The unlabelled folders as ``a/, b/`` (the first `most`, then how many more)."""
    folders = predictions.unlabelled
    more = f" and {len(folders) - most} more" if len(folders) > most else ""
    return ", ".join(f"{folder}/" for folder in folders[:most]) + more




def summary_markdown(predictions: Predictions, checkpoint: Path, images: Path, out: Path) -> str:
    """The `prediction-summary` artifact: totals, accuracy, unlabelled folders, predictions per class and the
    files left out (the first MAX_LISTED)."""
    p, n_classes = predictions, len(predictions.class_names)
    counts = np.bincount(p.predicted, minlength=n_classes)
    headers = ["label", "name", "predicted"]
    rows = [[name, display, int(c)] for name, display, c in zip(p.class_names, p.display_names, counts,
                                                                strict=True)]
    mask = p.labelled
    if p.accuracy is not None:
        truth = np.bincount(p.y[mask], minlength=n_classes)
        right = np.bincount(p.y[mask & (p.y == p.predicted)], minlength=n_classes)
        headers += ["images", "correct", "accuracy"]
        for row, t, r in zip(rows, truth, right, strict=True):
            row += [int(t), int(r), percent(r / t) if t else None]
    shown = p.problems[:MAX_LISTED]
    return render_template(
        "prediction_summary.md.j2", n_images=len(p.paths), images=images, checkpoint=checkpoint, out=out,
        accuracy=p.accuracy, n_labelled=int(mask.sum()), unlabelled_note=unlabelled_note(p),
        per_class=Table(headers, rows), problems=Table(["file: reason"], [[problem] for problem in shown]),
        n_problems=len(p.problems), n_more=len(p.problems) - len(shown))


@dataclass(frozen=True)
class PredictionSummary:
    """What a `predict` run did: the CSV written, the checkpoint used, images predicted, accuracy (None
    without class folders), the files left out, and the folders predicted without a true label."""

    csv: Path
    checkpoint: Path
    n_images: int
    accuracy: float | None
    problems: tuple[str, ...]
    unlabelled: tuple[str, ...] = ()


# -------------------------------------------------------------------------------------------------- flow
@task(cache_policy=NO_CACHE)
def load_classifier(model: Path) -> Classifier:
    """The model and its saved normaliser, from a checkpoint, run, champion or version folder."""
    return Classifier.from_checkpoint(resolve_model(model))


@task(cache_policy=NO_CACHE)
def read_images(images: Path, classifier: Classifier) -> LoadedImages:
    """Decode the images of the model's size; the rest are listed as problems."""
    return files.load_images(images, image_shape=classifier.image_shape, class_names=classifier.class_names)


@task(cache_policy=NO_CACHE)
def predict_images(classifier: Classifier, images: LoadedImages) -> Predictions:
    """Class, probability and (with class folders) true class of each image."""
    return classify(classifier, images)


@task(cache_policy=NO_CACHE)
def write_predictions(predictions: Predictions, out: Path) -> Path:
    """Write the CSV atomically."""
    return predictions.write_csv(out)


@flow(name="predict")
def predict(model: Path, images: Path, out: Path | None = None) -> PredictionSummary:
    """Predict every image under `images` with `model` and write the CSV to `out` (default
    ./predictions.csv)."""
    logger = get_run_logger()
    out = Path("predictions.csv") if out is None else Path(out)
    classifier = load_classifier(model)
    predictions = predict_images(classifier, read_images(images, classifier))
    csv_path = write_predictions(predictions, out)
    for problem in predictions.problems[:MAX_LISTED]:
        logger.warning("left out: %s", problem)
    if len(predictions.problems) > MAX_LISTED:
        logger.warning("... and %d more files left out", len(predictions.problems) - MAX_LISTED)
    if predictions.unlabelled:
        logger.info(unlabelled_note(predictions))
    if predictions.accuracy is not None:
        logger.info("accuracy %.2f%% over %d images in class folders", 100 * predictions.accuracy,
                    int(predictions.labelled.sum()))
    create_markdown_artifact(summary_markdown(predictions, classifier.source, Path(images), csv_path),
                             key=PREDICTION_SUMMARY, description=f"Predictions of {classifier.source}")
    return PredictionSummary(csv_path, classifier.source, len(predictions.paths), predictions.accuracy,
                             predictions.problems, predictions.unlabelled)
