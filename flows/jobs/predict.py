"""Predict the class of every image in a folder with a trained model, as a Prefect flow (`mlpflow predict`,
``python flows/predict.py``; its ``--help`` says what the flags take and what the CSV holds).

The model applies the preprocessing stored in its checkpoint to the raw pixels; the rows are
`flows.pipeline.predictions.Predictions`. Unreadable images and images of another size than the model's are
left out and listed (in the log and the `prediction-summary` artifact), not fatal; folders that are not one
of the model's classes are predicted without a true label and named. When no image has the model's size,
`misfit` says so in one line, naming the model's run, data set and input size (the command line checks this
before the flow starts).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image
from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE

from flows.pipeline.classifier import Classifier
from flows.pipeline.predictions import Predictions
from flows.report.content import percent
from flows.report.render import render_template
from flows.report.table import Table
from flows.store import layout
from flows.store.layout import resolve_model
from mlp import load_checkpoint
from mlp.data import files, folders
from mlp.data.dataset import LoadedImages
from mlp.data.quality import Skipped, WrongSize

PREDICTION_SUMMARY = "prediction-summary"  # the markdown artifact's key
MAX_LISTED = 50  # problems listed one by one in the artifact


def image_sizes(images: Path) -> Counter[tuple[int, int]]:
    """How many of the images `load_images` would read under `images` (one file, or a folder read
    recursively) have each size (h, w), from their headers; unreadable files are not counted."""
    sizes: Counter[tuple[int, int]] = Counter()
    for path in folders.image_files(images):
        try:
            with Image.open(path) as image:
                width, height = image.size
        except (OSError, ValueError):  # unreadable: load_images lists it as a problem
            continue
        sizes[(height, width)] += 1
    return sizes


def model_origin(metadata: dict) -> str:
    """Where a checkpoint's model comes from, in words: its run and data set, from its metadata."""
    source = metadata.get("data_source")
    if source is not None and Path(source).resolve() == layout.DEMO_DIR.resolve():
        data = f"the built-in digits demo ({source})"
    else:
        data = source or "an unrecorded data set"
    run = metadata.get("run_name")
    return f"run {run} on {data}" if run else data


def misfit(checkpoint: Path, images: Path) -> str | None:
    """One line saying that none of the images under `images` has the size the model in `checkpoint` takes,
    naming the model's run, data set and input size, the images' sizes and champions that would fit; None
    when some image fits or none is readable (`files.load_images` then says what is wrong)."""
    metadata = load_checkpoint(checkpoint).metadata
    sizes = image_sizes(images)
    if "image_shape" not in metadata or not sizes or tuple(metadata["image_shape"]) in sizes:
        return None  # no image model (Classifier says so), nothing readable, or some image fits
    h, w = metadata["image_shape"]
    (common, _), = sizes.most_common(1)
    found = ", ".join(f"{n} of {sh}x{sw}" for (sh, sw), n in sizes.most_common())
    fitting = [str(path) for path in _champions(checkpoint) if _image_shape(path) == common]
    hint = (f"e.g. {', '.join(fitting)}" if fitting else
            "e.g. the champion of their data folder, <output>/models/<key>/champion")
    return (f"none of the {sum(sizes.values())} images in {images} fits the model: {Path(checkpoint)} was "
            f"trained by {model_origin(metadata)} and takes {h}x{w} images; these are {found}. Give --model "
            f"a model trained on {common[0]}x{common[1]} images, {hint}")


def _champions(checkpoint: Path) -> list[Path]:
    """The champions of the output folder the model's run or version folder is in: the
    <output>/models/<key>/champion of each ingested data folder."""
    parents = Path(checkpoint).resolve().parents
    output = next((p.parent for p in parents if p.name in ("runs", "models")), None)
    if output is None:
        return []
    keys = sorted(parquet.stem for parquet in layout.datasets_dir(output).glob("*.parquet"))  # data folders
    links = [layout.champion_link(layout.models_dir(output, key)) for key in keys]
    return [link for link in links if (link / layout.CHAMPION_MODEL).is_file()]


def _image_shape(model: Path) -> tuple[int, int] | None:
    """The image size (h, w) a model folder's model takes; None when it cannot be read."""
    try:
        return tuple(load_checkpoint(resolve_model(model)).metadata["image_shape"])
    except (OSError, ValueError, KeyError):
        return None


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
    """Decode the images of the model's size; the rest are listed as problems. ValueError in one line when
    none has the model's size (`misfit`)."""
    problem = misfit(classifier.source, images)
    if problem:
        raise ValueError(problem)
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
