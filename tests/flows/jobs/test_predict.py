"""Prediction on held-out digits images with a real trained model: model paths, the CSV, the accuracy (equal
to the classifier's own evaluation), files left out, the summary artifact and the command line; real hanzi12
images of another size than the model's, named in one line."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

from flows.cli import run_command
from flows.jobs.predict import PREDICTION_SUMMARY, classify, image_sizes, misfit, predict, summary_markdown
from flows.pipeline.classifier import Classifier, classifier_metadata
from flows.pipeline.predictions import PREDICTION_COLUMNS as COLUMNS
from flows.store import layout
from flows.store.layout import CHAMPION_MODEL, RunLayout, resolve_model
from flows.store.tables import csv_text
from mlp import MLP, load_checkpoint, save_checkpoint
from mlp.data import files
from mlp.data.transforms import fit_normalizer
from tests.flows.classifiers import DigitsData, digits_data, train_checkpoint


@pytest.fixture(scope="module")
def digits(tmp_path_factory) -> DigitsData:
    return digits_data(tmp_path_factory.mktemp("digits"))


@pytest.fixture(scope="module")
def run_dir(digits, tmp_path_factory) -> Path:
    """A run folder whose checkpoints/best.npz is a model trained on the training rows only."""
    run = RunLayout.at(tmp_path_factory.mktemp("runs") / "run-1")
    train_checkpoint(digits, run.best, epochs=10)
    return run.root


@pytest.fixture(scope="module")
def heldout(digits, tmp_path_factory) -> Path:
    """The validation images copied into class folders <label>/<file>.bmp, plus a 10x10 image and a file
    that is no image, both in class folders."""
    folder = tmp_path_factory.mktemp("heldout")
    for rel in digits.dataset.paths[digits.val]:
        _, label, name = rel.split("/")
        (folder / label).mkdir(exist_ok=True)
        shutil.copy2(digits.root / rel, folder / label / name)
    Image.new("L", (10, 10), 255).save(folder / "0" / "big.bmp")
    (folder / "1" / "broken.bmp").write_bytes(b"not an image")
    return folder


@pytest.fixture(scope="module")
def mixed(digits, tmp_path_factory) -> Path:
    """Five validation images in their class folders <label>/, five more under train/<label>/: a folder such
    as a data folder given by mistake, where train/ is not one of the model's classes."""
    folder = tmp_path_factory.mktemp("mixed")
    for i, rel in enumerate(digits.dataset.paths[digits.val][:10]):  # rel: train/<label>/<file>
        dest = folder / (rel.split("/", 1)[1] if i < 5 else rel)
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(digits.root / rel, dest)
    return folder


def read_csv(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    with open(path, newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        return list(reader.fieldnames), list(reader)


# ------------------------------------------------------------------------------------------------ model
def test_resolve_model_accepts_a_checkpoint_a_run_folder_and_a_champion_folder(run_dir, tmp_path):
    best = RunLayout.at(run_dir).best.resolve()
    assert resolve_model(best) == best and resolve_model(run_dir) == best
    version = tmp_path / "versions" / "run-1"
    version.mkdir(parents=True)
    shutil.copy(best, version / CHAMPION_MODEL)
    (tmp_path / "champion").symlink_to("versions/run-1")
    (tmp_path / "latest").symlink_to(run_dir)
    # Links are followed: the path names the version in use, whatever the link points to later.
    assert resolve_model(tmp_path / "champion") == (version / CHAMPION_MODEL).resolve()
    assert resolve_model(tmp_path / "latest") == best


def test_resolve_model_names_what_is_wrong(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"missing\.npz does not exist"):
        resolve_model(tmp_path / "missing.npz")
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(ValueError, match=r"notes\.txt is not a \.npz checkpoint"):
        resolve_model(tmp_path / "notes.txt")
    with pytest.raises(FileNotFoundError, match=r"neither model\.npz .* nor checkpoints/best\.npz"):
        resolve_model(tmp_path)


# ----------------------------------------------------------------------------------------------- pure
def test_classify_matches_the_classifier_and_its_evaluation(digits, run_dir, heldout):
    clf = Classifier.from_checkpoint(resolve_model(run_dir))
    images = files.load_images(heldout, image_shape=clf.image_shape, class_names=clf.class_names)
    predictions = classify(clf, images)
    np.testing.assert_array_equal(predictions.predicted, clf.predict(images.X))
    np.testing.assert_allclose(predictions.probability, clf.predict_proba(images.X).max(axis=1))
    # Against the pixels ingest decoded into Parquet: the same accuracy as Classifier.evaluate.
    _, expected = clf.score(digits.X_val, digits.y_val)
    assert predictions.accuracy == expected and 0.85 < expected < 1.0
    big, broken = sorted(predictions.problems)
    assert big == "0/big.bmp: 10x10 pixels, the model takes 8x8"
    assert broken.startswith("1/broken.bmp: not a readable image")


def test_a_flat_folder_gives_no_true_label_and_no_accuracy(digits, run_dir, tmp_path):
    for rel in digits.dataset.paths[digits.val][:5]:
        shutil.copy2(digits.root / rel, tmp_path / rel.replace("/", "-"))
    clf = Classifier.from_checkpoint(resolve_model(run_dir))
    predictions = classify(clf, files.load_images(tmp_path, image_shape=clf.image_shape))
    assert predictions.accuracy is None and len(predictions.paths) == 5
    header, *rows = csv_text(predictions.rows(), predictions.columns).splitlines()
    assert header == ",".join(COLUMNS) and len(rows) == 5


def test_images_outside_the_class_folders_are_predicted_unlabelled_not_left_out(run_dir, mixed):
    clf = Classifier.from_checkpoint(resolve_model(run_dir))
    images = files.load_images(mixed, image_shape=clf.image_shape, class_names=clf.class_names)
    predictions = classify(clf, images)
    assert len(predictions.paths) == 10 and int(predictions.labelled.sum()) == 5
    assert predictions.problems == () and predictions.unlabelled == ("train",)
    rows = list(csv.DictReader(csv_text(predictions.rows(), predictions.columns).splitlines()))
    assert [r["true_label"] for r in rows if r["path"].startswith("train/")] == [""] * 5  # not "train"
    assert all(r["true_label"] == r["path"].split("/")[0] for r in rows if not r["path"].startswith("train/"))
    text = summary_markdown(predictions, run_dir, mixed, Path("predictions.csv"))
    assert ("5 images in folders that are not one of the model's classes (train/) were predicted without a "
            "true label") in text
    assert "left out" not in text


# ----------------------------------------------------------------------------------------------- flow
@pytest.mark.usefixtures("prefect_harness")
def test_predict_flow_writes_the_csv_and_the_accuracy_of_the_evaluation(digits, run_dir, heldout, tmp_path):
    out = tmp_path / "out" / "predictions.csv"
    state = predict(model=run_dir, images=heldout, out=out, return_state=True)
    assert state.is_completed()
    summary = state.result()
    clf = Classifier.from_checkpoint(RunLayout.at(run_dir).best)
    _, expected = clf.score(digits.X_val, digits.y_val)
    assert summary.accuracy == expected and summary.n_images == len(digits.val)
    assert summary.csv == out and summary.checkpoint == RunLayout.at(run_dir).best.resolve()
    assert len(summary.problems) == 2

    header, rows = read_csv(out)
    assert header == [*COLUMNS, "true_label"] and len(rows) == len(digits.val)
    names = dict(zip(clf.class_names, clf.display_names, strict=True))
    assert all(r["true_label"] == r["path"].split("/")[0] for r in rows)
    assert all(r["predicted_name"] == names[r["predicted_label"]] for r in rows)
    assert np.mean([r["true_label"] == r["predicted_label"] for r in rows]) == pytest.approx(expected)
    assert all(0.1 <= float(r["probability"]) <= 1.0 for r in rows)  # the largest of 10 probabilities

    run_filter = FlowRunFilter(id=FlowRunFilterId(any_=[state.state_details.flow_run_id]))
    with get_client(sync_client=True) as client:
        [artifact] = client.read_artifacts(flow_run_filter=run_filter)
    assert artifact.key == PREDICTION_SUMMARY
    assert f"Accuracy {expected:.2%} over {len(digits.val)} images" in artifact.data
    assert "2 files left out" in artifact.data and "big.bmp" in artifact.data


# -------------------------------------------------------------------------------------------- command
@pytest.mark.usefixtures("prefect_harness")
def test_the_command_predicts_a_single_image_and_prints_where_the_csv_is(digits, run_dir, tmp_path, capsys):
    image = digits.root / digits.dataset.paths[digits.val][0]
    out = tmp_path / "one.csv"
    summary = run_command("predict", ["--model", str(RunLayout.at(run_dir).best), "--images", str(image),
                                      "--out", str(out)])
    assert summary.n_images == 1 and summary.accuracy is None
    assert f"1 predictions written to {out}" in capsys.readouterr().out
    header, rows = read_csv(out)
    assert header == list(COLUMNS) and rows[0]["path"] == image.name


@pytest.mark.usefixtures("prefect_harness")
def test_the_command_names_folders_that_are_not_classes_as_unlabelled(run_dir, mixed, tmp_path, capsys):
    out = tmp_path / "mixed.csv"
    summary = run_command("predict", ["--model", str(run_dir), "--images", str(mixed), "--out", str(out)])
    assert summary.n_images == 10 and summary.problems == () and summary.unlabelled == ("train",)
    printed = capsys.readouterr().out.strip().splitlines()[-1]
    assert printed.endswith("; unlabelled, not a class: train/") and "left out" not in printed
    _, rows = read_csv(out)
    assert sum(r["true_label"] == "" for r in rows) == 5


@pytest.mark.parametrize(("args", "message"), [
    (["--model", "nowhere.npz", "--images", "."], "--model: model nowhere.npz does not exist"),
    (["--model", "{run}", "--images", "nowhere"], "--images: nowhere does not exist"),
    (["--model", "{run}", "--images", "{images}", "--out", "{run}"], "is a folder; give a file name"),
])
def test_bad_paths_end_the_command_with_one_line(args, message, run_dir, capsys, tmp_path):
    images = tmp_path / "images"  # a real image, so that only the flag under test is wrong
    images.mkdir()
    Image.new("L", (8, 8), 255).save(images / "a.bmp")
    with pytest.raises(SystemExit) as stop:
        run_command("predict", [a.format(run=run_dir, images=images) for a in args])
    assert stop.value.code == 2
    errors = [line for line in capsys.readouterr().err.splitlines() if "error:" in line]
    assert len(errors) == 1 and message in errors[0]


# ----------------------------------------------------------------------------- images of another size
@pytest.fixture(scope="module")
def hanzi_images(hanzi12_root, tmp_path_factory) -> Path:
    """One real 28x28 hanzi12 image of each class, in its class folder: not what a digits model takes."""
    folder = tmp_path_factory.mktemp("hanzi")
    for class_folder in sorted((hanzi12_root / "train").iterdir()):
        (folder / class_folder.name).mkdir()
        shutil.copy2(next(class_folder.glob("*.bmp")), folder / class_folder.name / "1.bmp")
    return folder


@pytest.fixture(scope="module")
def demo_output(run_dir, tmp_path_factory) -> Path:
    """An output folder after a digits demo run (latest -> its run) beside a champion of 28x28 images,
    as `python flows/full_pipeline.py` leaves them when the demo ran last."""
    out = tmp_path_factory.mktemp("out")
    run = RunLayout.create(out, "20261203-104512-digits")
    demo = load_checkpoint(RunLayout.at(run_dir).best)
    save_checkpoint(run.best, demo.model, metadata=demo.metadata | {
        "run_name": run.name, "data_source": str(layout.DEMO_DIR)})
    (out / "latest").symlink_to(run.root)
    key = "hanzi12-0123456789ab"
    layout.datasets_dir(out).mkdir()
    (layout.datasets_dir(out) / f"{key}.parquet").write_bytes(b"")  # its data set: one per data folder
    version = layout.versions_dir(layout.models_dir(out, key)) / "20261202-090000-hanzi12"
    normalizer = fit_normalizer(np.random.default_rng(0).integers(0, 256, (20, 784)).astype(np.uint8))
    names = [str(k) for k in range(1, 13)]
    save_checkpoint(version / CHAMPION_MODEL, MLP([784, 8, 12]),
                    metadata=classifier_metadata([("raw", normalizer)], names, names, (28, 28)))
    layout.champion_link(layout.models_dir(out, key)).symlink_to("versions/20261202-090000-hanzi12")
    return out


def test_images_of_another_size_end_the_command_with_one_line_naming_the_model(demo_output, hanzi_images,
                                                                                tmp_path, capsys):
    """The README's `predict --model artifacts/latest` after a demo run, on 28x28 images: one line that
    names the model's data set and input size and the champion that fits, exit status 2, no traceback."""
    with pytest.raises(SystemExit) as stop:
        run_command("predict", ["--model", str(demo_output / "latest"), "--images", str(hanzi_images),
                                "--out", str(tmp_path / "p.csv")])
    assert stop.value.code == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and not (tmp_path / "p.csv").exists()
    errors = [line for line in err.splitlines() if "error:" in line]
    assert len(errors) == 1
    champion = layout.champion_link(layout.models_dir(demo_output, "hanzi12-0123456789ab"))
    best = RunLayout.create(demo_output, "20261203-104512-digits").best.resolve()
    assert errors[0].endswith(
        f"error: --images: none of the 12 images in {hanzi_images} fits the model: {best} was trained by run "
        f"20261203-104512-digits on the built-in digits demo ({layout.DEMO_DIR}) and takes 8x8 images; these "
        f"are 12 of 28x28. Give --model a model trained on 28x28 images, e.g. {champion}")


@pytest.mark.usefixtures("prefect_harness")
def test_the_flow_on_images_of_another_size_fails_with_the_same_line(run_dir, hanzi_images, tmp_path):
    state = predict(model=run_dir, images=hanzi_images, out=tmp_path / "p.csv", return_state=True)
    assert state.is_failed()
    error = state.result(raise_on_failure=False)
    assert isinstance(error, ValueError) and "\n" not in str(error)
    assert str(error).startswith(f"none of the 12 images in {hanzi_images} fits the model: ")
    assert "takes 8x8 images; these are 12 of 28x28" in str(error)


def test_misfit_is_silent_when_some_image_fits(run_dir, heldout, hanzi_images):
    best = RunLayout.at(run_dir).best
    assert misfit(best, heldout) is None  # 8x8 digits, and one 10x10 image left out and listed
    assert image_sizes(hanzi_images) == {(28, 28): 12} and image_sizes(heldout)[(10, 10)] == 1
    assert "an unrecorded data set" in misfit(best, hanzi_images)  # a checkpoint without data_source
