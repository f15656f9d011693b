"""Champion promotion on real digits models: the better model is kept both ways, the swap is atomic, the
decision is recorded on disk and as the `model-promotion` artifact."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
from prefect import flow
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

from flows.pipeline.classifier import Classifier
from flows.report.artifacts import MODEL_PROMOTION, publish_promotion
from flows.store.champion import (
    PROMOTION_RECORD,
    RULE,
    TRAINING_HASHES,
    Promotion,
    current_champion,
    decide,
    promote_if_better,
    training_hashes,
)
from flows.store.layout import CHAMPION_MODEL, champion_link, versions_dir
from tests.flows.classifiers import DigitsData, digits_data, resplit, train_checkpoint


@pytest.fixture(scope="module")
def digits(tmp_path_factory) -> DigitsData:
    return digits_data(tmp_path_factory.mktemp("digits"))


@pytest.fixture(scope="module")
def models(digits, tmp_path_factory) -> dict[str, Path]:
    """Three real checkpoints: `strong` (10 epochs), `weak` (untrained) and `other` (other class names)."""
    folder = tmp_path_factory.mktemp("models")
    return {
        "strong": train_checkpoint(digits, folder / "strong.npz", epochs=10),
        "weak": train_checkpoint(digits, folder / "weak.npz", epochs=0),
        "other": train_checkpoint(digits, folder / "other.npz", epochs=10,
                                  class_names=tuple("abcdefghij")),
    }


def score(checkpoint: Path, digits: DigitsData, rows: np.ndarray | None = None) -> tuple[float, float]:
    rows = digits.val if rows is None else rows
    ds = digits.dataset
    loss, accuracy = Classifier.from_checkpoint(checkpoint).score(ds.X[rows], ds.y[rows])
    return accuracy, loss


def promote(checkpoint: Path, digits: DigitsData, out: Path, run: str, **hashes) -> Promotion:
    """Promote `checkpoint`, trained on `digits.train`, measured on `digits.val` (`hashes` overrides)."""
    hashes = {"val_hashes": digits.val_hashes, "train_hashes": digits.train_hashes} | hashes
    return promote_if_better(checkpoint, digits.X_val, digits.y_val, out, run, **hashes)


# ---------------------------------------------------------------------------------------------- the rule
@pytest.mark.parametrize(("challenger", "champion", "wins", "words"), [
    ((0.9, 0.5), (0.8, 0.1), True, "90.00% > champion 80.00%"),
    ((0.8, 0.1), (0.9, 0.5), False, "80.00% < champion 90.00%"),
    ((0.9, 0.3), (0.9, 0.4), True, "loss 0.3000 < champion 0.4000"),
    ((0.9, 0.4), (0.9, 0.3), False, "loss 0.4000 >= champion 0.3000"),
    ((0.9, 0.4), (0.9, 0.4), False, "loss 0.4000 >= champion 0.4000"),  # a full tie keeps the champion
])
def test_decide_compares_accuracy_then_loss(challenger, champion, wins, words):
    promoted, reason = decide(challenger, champion)
    assert promoted is wins and words in reason


# ------------------------------------------------------------------------------------------- promotions
def test_first_challenger_becomes_champion_with_its_record(digits, models, tmp_path):
    p = promote(models["weak"], digits, tmp_path, "run-1")
    assert p.promoted and p.champion_run is None and p.champion_accuracy is None
    assert (p.challenger_accuracy, p.challenger_loss) == score(models["weak"], digits)
    link = champion_link(tmp_path)
    assert link.is_symlink() and os.readlink(link) == os.path.join("versions", "run-1")  # relative: movable
    assert p.champion_path == (versions_dir(tmp_path) / "run-1" / CHAMPION_MODEL).resolve()
    assert (link / CHAMPION_MODEL).read_bytes() == models["weak"].read_bytes()
    record = json.loads((link / PROMOTION_RECORD).read_text(encoding="utf-8"))
    assert record["challenger_accuracy"] == p.challenger_accuracy and record["n_samples"] == len(digits.val)
    assert record["n_excluded"] == p.n_excluded == 0
    assert record["source"] == str(models["weak"].resolve()) and record["rule"] == RULE
    # The hashes of the images it was trained on (before augmentation), sorted, one a line.
    lines = (link / TRAINING_HASHES).read_text(encoding="ascii").splitlines()
    assert lines == sorted(set(digits.train_hashes.tolist())) and len(lines) > 1000


def test_better_challenger_replaces_the_champion(digits, models, tmp_path):
    promote(models["weak"], digits, tmp_path, "weak")
    p = promote(models["strong"], digits, tmp_path, "strong")
    strong, weak = score(models["strong"], digits), score(models["weak"], digits)
    assert strong[0] > 0.85 > 0.3 > weak[0]  # the models really differ
    assert p.promoted and p.champion_run == "weak"
    assert (p.challenger_accuracy, p.challenger_loss) == strong
    assert (p.champion_accuracy, p.champion_loss) == weak
    assert current_champion(tmp_path) == (versions_dir(tmp_path) / "strong").resolve()
    # The old version is kept, unchanged.
    assert (versions_dir(tmp_path) / "weak" / CHAMPION_MODEL).read_bytes() == models["weak"].read_bytes()


def test_worse_challenger_leaves_the_champion_alone(digits, models, tmp_path):
    promote(models["strong"], digits, tmp_path, "strong")
    before = sorted(p.name for p in versions_dir(tmp_path).iterdir())
    p = promote(models["weak"], digits, tmp_path, "weak")
    assert not p.promoted and p.champion_run == "strong" and "champion" in p.reason
    assert p.champion_accuracy > p.challenger_accuracy
    assert p.champion_path == (versions_dir(tmp_path) / "strong" / CHAMPION_MODEL).resolve()
    assert current_champion(tmp_path).name == "strong"
    assert sorted(p.name for p in versions_dir(tmp_path).iterdir()) == before  # nothing written


def test_an_equal_challenger_does_not_replace_the_champion(digits, models, tmp_path):
    promote(models["strong"], digits, tmp_path, "first")
    p = promote(models["strong"], digits, tmp_path, "second")
    assert not p.promoted and "equal accuracy" in p.reason
    assert current_champion(tmp_path).name == "first"


def test_incompatible_champion_is_replaced_and_the_reason_says_why(digits, models, tmp_path):
    promote(models["other"], digits, tmp_path, "other")
    p = promote(models["weak"], digits, tmp_path, "weak")  # even an untrained model replaces it
    assert p.promoted and p.champion_run == "other" and p.champion_accuracy is None
    assert "cannot be compared" in p.reason and "'a', 'b'" in p.reason
    assert current_champion(tmp_path).name == "weak"


# ------------------------------------------------------------------- images the champion was trained on
def test_the_champion_is_scored_only_on_validation_images_it_never_trained_on(digits, models, tmp_path):
    seed1 = resplit(digits, 1)  # what a run with --seed 1 trains and validates on
    challenger = train_checkpoint(seed1, tmp_path / "seed1.npz", epochs=10)
    promote(models["strong"], digits, tmp_path, "seed-0")  # trained on the seed-0 training rows
    p = promote(challenger, seed1, tmp_path, "seed-1")
    seen = set(digits.train_hashes.tolist())
    unseen = np.array([row for row in seed1.val if digits.dataset.hashes[row] not in seen])
    assert 0 < len(unseen) < len(seed1.val)  # the two splits overlap in part
    assert (p.n_samples, p.n_excluded) == (len(unseen), len(seed1.val) - len(unseen))
    assert (p.challenger_accuracy, p.challenger_loss) == score(challenger, seed1, unseen)
    assert (p.champion_accuracy, p.champion_loss) == score(models["strong"], seed1, unseen)
    assert p.champion_run == "seed-0"
    if p.promoted:  # the record on disk holds the same counts
        record = json.loads((versions_dir(tmp_path) / "seed-1" / PROMOTION_RECORD).read_text("utf-8"))
        assert (record["n_samples"], record["n_excluded"]) == (p.n_samples, p.n_excluded)


def test_with_no_validation_image_left_the_champion_stays_as_not_comparable(digits, models, tmp_path):
    everything = digits.dataset.hashes  # a champion trained on every image, validation ones included
    promote(models["weak"], digits, tmp_path, "all", train_hashes=everything)
    p = promote(models["strong"], digits, tmp_path, "strong")  # far better, yet it cannot be judged
    n = len(digits.val)
    assert not p.promoted and p.reason == (f"not comparable: all {n} validation images were in the "
                                           "champion's training data")
    assert (p.n_samples, p.n_excluded) == (0, n) and p.challenger_accuracy is p.champion_accuracy is None
    assert current_champion(tmp_path).name == "all"
    assert set(training_hashes(versions_dir(tmp_path) / "all")) == set(everything.tolist())


def test_a_champion_without_its_training_hashes_is_reported(digits, models, tmp_path):
    promote(models["weak"], digits, tmp_path, "weak")
    (versions_dir(tmp_path) / "weak" / TRAINING_HASHES).unlink()
    with pytest.raises(FileNotFoundError, match=r"holds no training_hashes\.txt"):
        promote(models["strong"], digits, tmp_path, "strong")
    assert champion_link(tmp_path).resolve().name == "weak"


# --------------------------------------------------------------------------------------------- atomicity
def test_the_swap_is_one_rename_while_the_old_champion_stays_readable(digits, models, tmp_path, monkeypatch):
    promote(models["weak"], digits, tmp_path, "weak")
    link, real_replace, seen = champion_link(tmp_path), os.replace, []

    def spy(src, dst):
        # At the instant of the swap: the link still gives the complete old model, the new one is complete.
        if Path(dst) == link:
            seen.append(Classifier.from_checkpoint(link / CHAMPION_MODEL).source.resolve())
            assert Path(src).is_symlink() and Path(src).parent == link.parent
            assert Classifier.from_checkpoint(Path(src) / CHAMPION_MODEL).class_names
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", spy)
    promote(models["strong"], digits, tmp_path, "strong")
    assert seen == [(versions_dir(tmp_path) / "weak" / CHAMPION_MODEL).resolve()]
    assert current_champion(tmp_path).name == "strong"
    assert [p.name for p in link.parent.iterdir() if p.name.startswith(".champion")] == []


def test_a_failed_swap_keeps_the_champion_and_a_retry_succeeds(digits, models, tmp_path, monkeypatch):
    promote(models["weak"], digits, tmp_path, "weak")
    link, real_replace = champion_link(tmp_path), os.replace

    def fail(src, dst):
        if Path(dst) == link:
            raise OSError("disk gone")
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", fail)
    with pytest.raises(OSError, match="disk gone"):
        promote(models["strong"], digits, tmp_path, "strong")
    assert current_champion(tmp_path).name == "weak"
    assert [p.name for p in link.parent.iterdir() if p.name.startswith(".")] == [".promotion.lock"]
    monkeypatch.setattr(os, "replace", real_replace)
    # The complete version folder left behind holds the very same model: the retry reuses it.
    assert promote(models["strong"], digits, tmp_path, "strong").promoted
    assert current_champion(tmp_path).name == "strong"


# ------------------------------------------------------------------------------------------ refusals
def test_a_run_name_that_is_no_plain_folder_name_is_refused(digits, models, tmp_path):
    for bad in ("", "../x", "a/b", "a\\b", ".hidden"):
        with pytest.raises(ValueError, match="plain folder name"):
            promote(models["weak"], digits, tmp_path, bad)
    assert not champion_link(tmp_path).exists()


def test_validation_data_of_the_wrong_shape_is_refused(digits, models, tmp_path):
    with pytest.raises(ValueError, match=r"shape \(n > 0, 64\).*\(8, 8\), got \(5, 63\)"):
        promote_if_better(models["weak"], digits.X_val[:5, :63], digits.y_val[:5], tmp_path, "r",
                          val_hashes=digits.val_hashes[:5], train_hashes=digits.train_hashes)
    with pytest.raises(ValueError, match=r"y_val must have shape \(5,\)"):
        promote_if_better(models["weak"], digits.X_val[:5], digits.y_val[:4], tmp_path, "r",
                          val_hashes=digits.val_hashes[:5], train_hashes=digits.train_hashes)
    with pytest.raises(ValueError, match=r"val_hashes must have shape \(5,\)"):
        promote_if_better(models["weak"], digits.X_val[:5], digits.y_val[:5], tmp_path, "r",
                          val_hashes=digits.val_hashes[:4], train_hashes=digits.train_hashes)
    with pytest.raises(ValueError, match=r"train_hashes must hold sha256 hex digests.*'h1'"):
        promote(models["weak"], digits, tmp_path, "r", train_hashes=np.array(["h1"]))
    assert not versions_dir(tmp_path).exists()


def test_a_champion_that_is_not_a_symlink_or_dangles_is_reported(digits, models, tmp_path):
    link = champion_link(tmp_path)
    link.mkdir(parents=True)
    with pytest.raises(ValueError, match="not a symlink"):
        promote(models["weak"], digits, tmp_path, "r")
    link.rmdir()
    link.symlink_to("versions/gone")
    with pytest.raises(FileNotFoundError, match=r"holds no model\.npz"):
        promote(models["weak"], digits, tmp_path, "r")


def test_a_reused_run_name_with_another_model_is_refused(digits, models, tmp_path):
    promote(models["weak"], digits, tmp_path, "same")
    (versions_dir(tmp_path) / "later").mkdir()
    (versions_dir(tmp_path) / "later" / CHAMPION_MODEL).write_bytes(b"another model")
    with pytest.raises(FileExistsError, match="already holds another model"):
        promote(models["strong"], digits, tmp_path, "later")
    assert current_champion(tmp_path).name == "same"


# -------------------------------------------------------------------------------------------- artifact
@flow
def _decide_and_publish(challenger: Path, X_val: np.ndarray, y_val: np.ndarray, val_hashes: np.ndarray,
                        train_hashes: np.ndarray, out: Path, run: str) -> Promotion:
    promotion = promote_if_better(challenger, X_val, y_val, out, run, val_hashes=val_hashes,
                                  train_hashes=train_hashes)
    publish_promotion(promotion)
    return promotion


@pytest.mark.usefixtures("prefect_harness")
def test_the_decision_is_published_as_the_model_promotion_artifact(digits, models, tmp_path):
    promote(models["strong"], digits, tmp_path, "strong")
    state = _decide_and_publish(models["weak"], digits.X_val, digits.y_val, digits.val_hashes,
                                digits.train_hashes, tmp_path, "weak", return_state=True)
    assert state.is_completed()
    p = state.result()
    run_filter = FlowRunFilter(id=FlowRunFilterId(any_=[state.state_details.flow_run_id]))
    with get_client(sync_client=True) as client:
        [artifact] = client.read_artifacts(flow_run_filter=run_filter)
    assert artifact.key == MODEL_PROMOTION and artifact.type == "markdown"
    text = artifact.data.replace("\\", "")  # without Markdown's escapes
    assert "# Model promotion: champion strong kept" in text and f"Reason: {p.reason}." in text
    assert f"| challenger | weak | {p.challenger_accuracy:.2%} |" in text
    assert f"| champion | strong | {p.champion_accuracy:.2%} |" in text
    assert str(p.champion_path) in text
    assert (f"Compared on {len(digits.val)} of the challenger's validation images, each model through its "
            "own saved normaliser; 0 left out because the champion was trained on them.") in text
