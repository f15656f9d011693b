"""Champion promotion on real digits models: the better model is kept both ways, only on enough images and
beyond chance (McNemar's exact test on their real answers), the swap is atomic, the decision is recorded on
disk and as the `model-promotion` artifact."""

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
    promote_if_better,
    training_hashes,
)
from flows.store.layout import CHAMPION_MODEL, champion_link, versions_dir
from flows.store.mcnemar import TEST_NAME, PairedCounts, exact_p_value
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


DEFAULT_RULE = {"min_samples": 200, "alpha": 0.05}  # the pipeline's defaults (PipelineParams)


def promote(checkpoint: Path, digits: DigitsData, out: Path, run: str, **given) -> Promotion:
    """Promote `checkpoint`, trained on `digits.train`, measured on `digits.val` (`given` overrides the
    hashes, min_samples and alpha)."""
    given = {"val_hashes": digits.val_hashes, "train_hashes": digits.train_hashes} | DEFAULT_RULE | given
    return promote_if_better(checkpoint, digits.X_val, digits.y_val, out, run, **given)


def counts(challenger: Path, champion: Path, X: np.ndarray, y: np.ndarray) -> PairedCounts:
    """The 2x2 counts of the two models' answers, counted here from their predictions."""
    a, b = (Classifier.from_checkpoint(path).predict(X) == y for path in (challenger, champion))
    return PairedCounts(int(sum(a & b)), int(sum(a & ~b)), int(sum(~a & b)), int(sum(~a & ~b)))


# ------------------------------------------------------------------------------------------- promotions
def test_first_challenger_becomes_champion_with_its_record(digits, models, tmp_path):
    p = promote(models["weak"], digits, tmp_path, "run-1")
    assert p.promoted and p.champion_run == "run-1" and p.previous_champion_run is None
    assert p.champion_accuracy is p.counts is p.p_value is p.significance_test is None
    assert p.sentence() == ("Challenger run-1 promoted, the first champion: no model was promoted on this "
                            "data before.")
    assert (p.challenger_accuracy, p.challenger_loss) == score(models["weak"], digits)
    link = champion_link(tmp_path)
    assert link.is_symlink() and os.readlink(link) == os.path.join("versions", "run-1")  # relative: movable
    assert p.champion_path == (versions_dir(tmp_path) / "run-1" / CHAMPION_MODEL).resolve()
    assert (link / CHAMPION_MODEL).read_bytes() == models["weak"].read_bytes()
    record = json.loads((link / PROMOTION_RECORD).read_text(encoding="utf-8"))
    assert record["challenger_accuracy"] == p.challenger_accuracy and record["n_samples"] == len(digits.val)
    assert record["champion_run"] == "run-1" and record["previous_champion_run"] is None
    assert record["counts"] is record["p_value"] is None
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
    assert p.promoted and (p.champion_run, p.previous_champion_run, p.challenger_run) == ("strong", "weak",
                                                                                          "strong")
    assert (p.challenger_accuracy, p.challenger_loss) == strong
    assert (p.champion_accuracy, p.champion_loss) == weak
    # The counts are the models' real answers on the 359 images; the test is run on them.
    assert p.counts == counts(models["strong"], models["weak"], digits.X_val, digits.y_val)
    assert p.counts.n == p.n_samples == len(digits.val) and p.counts.challenger_only > 200
    assert p.p_value == exact_p_value(p.counts.challenger_only, p.counts.champion_only) < 1e-30
    assert p.significance_test == TEST_NAME and (p.min_samples, p.alpha) == (200, 0.05)
    assert p.sentence().startswith(f"Challenger strong promoted over champion weak: of {len(digits.val)} "
                                   "images compared, the challenger is right on ")
    assert p.sentence().endswith(" < 0.05.")
    assert current_champion(tmp_path) == (versions_dir(tmp_path) / "strong").resolve()
    # The old version is kept, unchanged.
    assert (versions_dir(tmp_path) / "weak" / CHAMPION_MODEL).read_bytes() == models["weak"].read_bytes()


def test_worse_challenger_leaves_the_champion_alone(digits, models, tmp_path):
    promote(models["strong"], digits, tmp_path, "strong")
    before = sorted(p.name for p in versions_dir(tmp_path).iterdir())
    p = promote(models["weak"], digits, tmp_path, "weak")
    assert not p.promoted and p.champion_run == p.previous_champion_run == "strong"
    assert p.champion_accuracy > p.challenger_accuracy
    assert p.counts.champion_only > p.counts.challenger_only and p.p_value > 0.99
    assert p.reason.endswith("so it is less accurate")
    assert p.sentence().startswith("Champion strong kept, challenger weak not promoted: ")
    assert p.champion_path == (versions_dir(tmp_path) / "strong" / CHAMPION_MODEL).resolve()
    assert current_champion(tmp_path).name == "strong"
    assert sorted(p.name for p in versions_dir(tmp_path).iterdir()) == before  # nothing written


def test_an_equal_challenger_does_not_replace_the_champion(digits, models, tmp_path):
    promote(models["strong"], digits, tmp_path, "first")
    p = promote(models["strong"], digits, tmp_path, "second")
    assert not p.promoted and p.counts == PairedCounts(p.counts.both_right, 0, 0, p.counts.both_wrong)
    assert p.p_value == 1.0 and p.reason.endswith("so it is no more accurate")
    assert current_champion(tmp_path).name == "first"


def test_too_little_evidence_keeps_the_champion_though_the_challenger_has_the_lower_loss(digits, models,
                                                                                         tmp_path):
    # The case: 21 images, both models right on all of them, the challenger's loss a little lower.
    rival = train_checkpoint(digits, tmp_path / "rival.npz", epochs=10, seed=1)
    both = np.flatnonzero((Classifier.from_checkpoint(models["strong"]).predict(digits.X_val) == digits.y_val)
                          & (Classifier.from_checkpoint(rival).predict(digits.X_val) == digits.y_val))
    rows = both[:21]
    strong, rival_loss = (score(m, digits, digits.val[rows])[1] for m in (models["strong"], rival))
    champion, challenger = (models["strong"], rival) if rival_loss < strong else (rival, models["strong"])
    out = tmp_path / "out"
    given = {"val_hashes": digits.val_hashes[rows], "train_hashes": digits.train_hashes} | DEFAULT_RULE
    promote_if_better(champion, digits.X_val[rows], digits.y_val[rows], out, "champion", **given)
    p = promote_if_better(challenger, digits.X_val[rows], digits.y_val[rows], out, "challenger", **given)
    assert p.challenger_accuracy == p.champion_accuracy == 1.0 and p.challenger_loss < p.champion_loss
    assert not p.promoted and p.counts == PairedCounts(21, 0, 0, 0) and p.p_value == 1.0
    assert p.sentence() == ("Champion champion kept, challenger challenger not promoted: compared on 21 "
                            "images, fewer than the 200 required.")
    # Without the minimum, the tie in accuracy still keeps it: the loss alone never promotes.
    q = promote_if_better(challenger, digits.X_val[rows], digits.y_val[rows], out, "challenger",
                          **given | {"min_samples": 1})
    assert not q.promoted and q.reason.endswith("so it is no more accurate")
    assert current_champion(out).name == "champion"


def test_the_record_names_the_new_champion_and_holds_the_test(digits, models, tmp_path):
    promote(models["weak"], digits, tmp_path, "weak")
    p = promote(models["strong"], digits, tmp_path, "strong", alpha=0.01, min_samples=300)
    record = json.loads((current_champion(tmp_path) / PROMOTION_RECORD).read_text(encoding="utf-8"))
    assert record["format"] == 2 and record["promoted"] is True
    # Both name the model in force after the decision; the one it replaced is named apart.
    assert record["champion_run"] == record["challenger_run"] == "strong"
    assert record["champion_path"] == str(versions_dir(tmp_path).resolve() / "strong" / CHAMPION_MODEL)
    assert Path(record["champion_path"]).read_bytes() == models["strong"].read_bytes()
    assert record["previous_champion_run"] == "weak"
    c = p.counts
    assert record["counts"] == {"both_right": c.both_right, "challenger_only": c.challenger_only,
                                "champion_only": c.champion_only, "both_wrong": c.both_wrong}
    assert sum(record["counts"].values()) == record["n_samples"] == len(digits.val)
    assert record["p_value"] == p.p_value and record["significance_test"] == TEST_NAME
    assert (record["min_samples"], record["alpha"]) == (300, 0.01)
    assert record["decision"] == p.sentence() and record["reason"] == p.reason and record["rule"] == RULE
    # The losses stay in the record, for information.
    assert (record["challenger_loss"], record["champion_loss"]) == (p.challenger_loss, p.champion_loss)


def test_the_minimum_sample_keeps_even_a_far_better_challenger_out(digits, models, tmp_path):
    promote(models["weak"], digits, tmp_path, "weak")
    n = len(digits.val)
    p = promote(models["strong"], digits, tmp_path, "strong", min_samples=n + 1)
    assert not p.promoted and p.p_value < 1e-30 and p.reason == (f"compared on {n} images, fewer than the "
                                                                 f"{n + 1} required")
    assert current_champion(tmp_path).name == "weak"


def test_incompatible_champion_is_replaced_and_the_reason_says_why(digits, models, tmp_path):
    promote(models["other"], digits, tmp_path, "other")
    p = promote(models["weak"], digits, tmp_path, "weak")  # even an untrained model replaces it
    assert p.promoted and (p.champion_run, p.previous_champion_run) == ("weak", "other")
    assert p.champion_accuracy is p.counts is p.p_value is None
    assert p.reason.startswith("the two cannot be compared (classes ['a', 'b'")
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
    assert p.previous_champion_run == p.champion_run == "seed-0"
    ds = digits.dataset
    assert p.counts == counts(challenger, models["strong"], ds.X[unseen], ds.y[unseen])
    # Too few images left to judge on: the champion stays, however the two scored.
    assert not p.promoted and p.reason == f"compared on {len(unseen)} images, fewer than the 200 required"
    # With a smaller minimum, the same two models are judged on those images by the test.
    q = promote(challenger, seed1, tmp_path, "seed-1", min_samples=len(unseen))
    assert q.counts == p.counts and q.promoted is (q.counts.challenger_only > q.counts.champion_only
                                                   and q.p_value < 0.05)


def test_with_no_validation_image_left_the_champion_stays_as_not_comparable(digits, models, tmp_path):
    everything = digits.dataset.hashes  # a champion trained on every image, validation ones included
    promote(models["weak"], digits, tmp_path, "all", train_hashes=everything)
    p = promote(models["strong"], digits, tmp_path, "strong")  # far better, yet it cannot be judged
    n = len(digits.val)
    assert not p.promoted and p.reason == (f"all {n} validation images were in the champion's training "
                                           "data: nothing to compare on")
    assert (p.n_samples, p.n_excluded) == (0, n) and p.challenger_accuracy is p.champion_accuracy is None
    assert p.counts is p.p_value is None
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
                          val_hashes=digits.val_hashes[:5], train_hashes=digits.train_hashes, **DEFAULT_RULE)
    with pytest.raises(ValueError, match=r"y_val must have shape \(5,\)"):
        promote_if_better(models["weak"], digits.X_val[:5], digits.y_val[:4], tmp_path, "r",
                          val_hashes=digits.val_hashes[:5], train_hashes=digits.train_hashes, **DEFAULT_RULE)
    with pytest.raises(ValueError, match=r"val_hashes must have shape \(5,\)"):
        promote_if_better(models["weak"], digits.X_val[:5], digits.y_val[:5], tmp_path, "r",
                          val_hashes=digits.val_hashes[:4], train_hashes=digits.train_hashes, **DEFAULT_RULE)
    with pytest.raises(ValueError, match=r"train_hashes must hold sha256 hex digests.*'h1'"):
        promote(models["weak"], digits, tmp_path, "r", train_hashes=np.array(["h1"]))
    assert not versions_dir(tmp_path).exists()


@pytest.mark.parametrize(("given", "words"), [
    ({"min_samples": 0}, "min_samples must be an integer >= 1, got 0"),
    ({"min_samples": 2.5}, r"min_samples must be an integer >= 1, got 2\.5"),
    ({"alpha": 1.0}, r"alpha must be a number in \(0, 1\), got 1\.0"),
    ({"alpha": 0}, r"alpha must be a number in \(0, 1\), got 0"),
    ({"alpha": float("nan")}, "alpha must be a number in .*, got nan"),
])
def test_a_rule_out_of_range_is_refused(digits, models, tmp_path, given, words):
    with pytest.raises(ValueError, match=words):
        promote(models["weak"], digits, tmp_path, "r", **given)
    assert not champion_link(tmp_path).exists()


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
                                  train_hashes=train_hashes, **DEFAULT_RULE)
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
    assert "# Model promotion: champion strong kept" in text and f"\n\n{p.sentence()}\n\n" in text
    b, c = p.counts.challenger_only, p.counts.champion_only
    assert (f"| {len(digits.val)} images | champion right | champion wrong |\n| --- | --- | --- |\n"
            f"| challenger right | {p.counts.both_right} | {b} |\n"
            f"| challenger wrong | {c} | {p.counts.both_wrong} |\n") in text
    assert f"Test: {TEST_NAME} on the {b + c} images where the two models disagree: p = " in text
    assert f"| challenger | weak | {p.challenger_accuracy:.2%} |" in text
    assert f"| champion | strong | {p.champion_accuracy:.2%} |" in text
    assert str(p.champion_path) in text
    assert (f"Compared on {len(digits.val)} of the challenger's validation images, each model through its "
            "own saved normaliser; 0 left out because the champion was trained on them.") in text
