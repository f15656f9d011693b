"""The run's Prefect artifacts, published from a real flow and read back through the Prefect client; the
Markdown ones rendered by hand."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from prefect import flow
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

from flows.report.artifacts import (
    DATA_QUALITY,
    EPOCH_HISTORY,
    MODEL_CHECKPOINT,
    PER_CLASS_ACCURACY,
    TRAINING_PROGRESS,
    TRAINING_REPORT,
    checkpoint_markdown,
    finish_training_progress,
    promotion_markdown,
    publish_checkpoint,
    publish_data_quality,
    publish_report_artifacts,
    start_training_progress,
    update_training_progress,
)
from flows.report.content import SECTIONS
from flows.report.render import data_uri, write_report
from flows.store.champion import RULE, Promotion
from flows.store.mcnemar import TEST_NAME, PairedCounts
from flows.store.promotion_rule import p_text
from mlp.history import EpochRecord
from tests.flows.report_samples import DATA_QUALITY as SAMPLE_QUALITY
from tests.flows.report_samples import sample_report


@flow
def _publish(run_dir: Path, checkpoint: Path) -> None:
    data = sample_report()
    publish_data_quality(SAMPLE_QUALITY, data.run_name)
    publish_report_artifacts(data, write_report(data, run_dir))
    publish_checkpoint(checkpoint, data.run_name, 0.9, 0.61234, [2])


@pytest.mark.usefixtures("prefect_harness")
def test_artifacts_read_back_with_keys_and_contents(tmp_path):
    checkpoint = tmp_path / "checkpoints" / "best.npz"
    checkpoint.parent.mkdir()
    np.savez(checkpoint, w=np.zeros((2, 2), np.float32))
    state = _publish(tmp_path / "run", checkpoint, return_state=True)
    assert state.is_completed()

    run_filter = FlowRunFilter(id=FlowRunFilterId(any_=[state.state_details.flow_run_id]))
    with get_client(sync_client=True) as client:
        artifacts = {a.key: a for a in client.read_artifacts(flow_run_filter=run_filter)}
    assert set(artifacts) == {
        TRAINING_REPORT,
        DATA_QUALITY,
        EPOCH_HISTORY,
        PER_CLASS_ACCURACY,
        MODEL_CHECKPOINT,
    }

    report = artifacts[TRAINING_REPORT]
    assert report.type == "markdown"
    assert [line[3:] for line in report.data.splitlines() if line.startswith("## ")] == list(SECTIONS)
    assert report.data.count("](data:image/png;base64,") == 4
    # The same text as report.md, each figure embedded instead of linked.
    run_dir = tmp_path / "run"
    expected = (run_dir / "report.md").read_text(encoding="utf-8")
    for png in (run_dir / "figures").iterdir():
        expected = expected.replace(f"](figures/{png.name})", f"]({data_uri(png.read_bytes())})")
    assert report.data == expected

    per_class = json.loads(artifacts[PER_CLASS_ACCURACY].data)
    assert artifacts[PER_CLASS_ACCURACY].type == "table"
    assert [row["name"] for row in per_class] == ["博", "学", "笃"]
    assert per_class[0]["accuracy"] == pytest.approx(5 / 6) and per_class[2]["accuracy"] is None

    history = json.loads(artifacts[EPOCH_HISTORY].data)
    assert [row["epoch"] for row in history] == [1, 2, 3]
    assert history[1] == {"member": "1", "epoch": 2, "train_loss": 0.5, "train_accuracy": "80.00%",
                          "val_loss": 0.6, "val_accuracy": "90.00%", "lr": "0.001", "seconds": 0.4}

    quality = json.loads(artifacts[DATA_QUALITY].data)
    assert artifacts[DATA_QUALITY].type == "table"
    assert {"section": "summary", "item": "Files reused from the last ingest", "value": 13} in quality
    assert {"section": "train images per class", "item": "1 (博)", "value": 6} in quality  # not "1 博"
    assert {"section": "skipped", "item": "train/3/bad.bmp", "value": "cannot identify image file"} in quality

    checkpoint_artifact = artifacts[MODEL_CHECKPOINT]
    assert str(checkpoint.resolve()) in checkpoint_artifact.data
    assert checkpoint_artifact.data.startswith("# Model checkpoint of run sample-run\n\nValidation accuracy "
                                               "90.00%, cross-entropy 0.6123 (best epoch 2).")
    assert checkpoint_artifact.description == "Checkpoint of run sample-run: validation accuracy 90.00%"


@flow
def _train_progress() -> None:
    progress = start_training_progress("run-7", 2, 2)
    for done, (network, epoch, accuracy) in enumerate([("1-raw", 1, 0.5), ("2-framed", 1, 0.625),
                                                       ("1-raw", 2, 0.75)], start=1):
        update_training_progress(progress, done, 4, network, epoch, accuracy)
    bests = {"1-raw": EpochRecord(2, 0.4, 0.8, 0.5, 0.75, 1e-3, 1.0),
             "2-framed": EpochRecord(1, 0.5, 0.7, 0.6, 0.625, 1e-3, 1.0)}
    finish_training_progress(progress, "run-7", bests, "lowest validation loss")


@pytest.mark.usefixtures("prefect_harness")
def test_training_progress_ends_saying_what_training_came_to():
    state = _train_progress(return_state=True)
    run_filter = FlowRunFilter(id=FlowRunFilterId(any_=[state.state_details.flow_run_id]))
    with get_client(sync_client=True) as client:
        [progress] = client.read_artifacts(flow_run_filter=run_filter)
    assert progress.key == TRAINING_PROGRESS and progress.type == "progress" and progress.data == 100.0
    assert progress.description == ("Training of run-7 finished. Best epochs (lowest validation loss): 1-raw "
                                    "epoch 2, validation accuracy 75.00%; 2-framed epoch 1, validation "
                                    "accuracy 62.50%")


def test_the_checkpoint_markdown_names_its_run_and_accuracy(tmp_path):
    checkpoint = tmp_path / "my_run" / "best.npz"
    checkpoint.parent.mkdir()
    checkpoint.write_bytes(b"x" * 1_250_000)
    text = checkpoint_markdown(checkpoint, "my_run", 0.9747, 0.0312345, [99, 97])
    assert text == ("# Model checkpoint of run my\\_run\n\n"
                    "Validation accuracy 97.47%, cross-entropy 0.03123 (best epochs 99, 97, one per "
                    "network).\n\n"
                    f"`{checkpoint}` (1.25 MB)\n\n"
                    f"Predict with it: `python flows/predict.py --model {checkpoint} --images DIR`\n")


def test_a_missing_checkpoint_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"best\.npz does not exist"):
        publish_checkpoint(tmp_path / "best.npz", "run", 0.5, 1.0, [1])


def _promotion(promoted: bool, reason: str, counts: PairedCounts | None, **runs) -> Promotion:
    """A hand-made decision: scores of 90% and 92%, 5 images left out, the pipeline's default rule."""
    scores = (0.9, 0.31, 0.92, 0.3) if counts else (0.5, 1.2, None, None)
    n = counts.n if counts else 10
    p_value = counts.p_value if counts else None
    test = TEST_NAME if counts else None
    return Promotion(promoted, reason, *scores, n, 5 if counts else 0, counts, p_value, test, 200, 0.05,
                     **runs)


def test_the_promotion_markdown_by_hand():
    counts = PairedCounts(both_right=290, challenger_only=5, champion_only=2, both_wrong=3)
    reason = ("of 300 images compared, the challenger is right on 5 the champion gets wrong and wrong on 2 "
              "it gets right; McNemar's exact test gives p = 0.23 ≥ 0.05, so the difference could be chance")
    kept = _promotion(False, reason, counts, champion_run="old_run", challenger_run="new_run",
                      champion_path=Path("/m/versions/old_run/model.npz"), previous_champion_run="old_run")
    assert promotion_markdown(kept) == (
        "# Model promotion: champion old\\_run kept\n\n"
        "Champion old\\_run kept, challenger new\\_run not promoted: of 300 images compared, the challenger "
        "is right on 5 the champion gets wrong and wrong on 2 it gets right; McNemar's exact test gives "
        "p = 0.23 ≥ 0.05, so the difference could be chance.\n\n"
        "| 300 images | champion right | champion wrong |\n| --- | --- | --- |\n"
        "| challenger right | 290 | 5 |\n| challenger wrong | 2 | 3 |\n\n"
        "Test: McNemar's exact test (one-sided) on the 7 images where the two models disagree: p = 0.23. "
        "Promotion needs p below 0.05 and at least 200 images compared.\n\n"
        "| model | run | validation accuracy | validation loss |\n| --- | --- | --- | --- |\n"
        "| challenger | new\\_run | 90.00% | 0.3100 |\n| champion | old\\_run | 92.00% | 0.3000 |\n\n"
        "Compared on 300 of the challenger's validation images, each model through its own saved normaliser; "
        f"5 left out because the champion was trained on them. Rule: {RULE}.\n\n"
        "Champion model now: /m/versions/old\\_run/model.npz\n")


def test_the_promotion_markdown_of_a_promotion_names_the_new_champion_and_the_old():
    counts = PairedCounts(both_right=250, challenger_only=40, champion_only=10, both_wrong=0)
    won = _promotion(True, "of 300 images compared, ...", counts, champion_run="new",
                     champion_path=Path("/m/versions/new/model.npz"), challenger_run="new",
                     previous_champion_run="old")
    text = promotion_markdown(won)
    assert text.startswith("# Model promotion: challenger new promoted\n\n"
                           "Challenger new promoted over champion old: of 300 images compared, ....\n")
    assert "| challenger right | 250 | 40 |\n| challenger wrong | 10 | 0 |" in text
    assert f"p = {p_text(counts.p_value, 0.05)}. Promotion needs p below 0.05" in text
    assert "| champion | old | 92.00% | 0.3000 |" in text  # the champion it was compared with
    assert text.endswith("Champion model now: /m/versions/new/model.npz\n")


def test_the_promotion_markdown_without_a_comparison_shows_no_test():
    first = _promotion(True, "no model was promoted on this data before", None, champion_run="x",
                       champion_path=Path("/m/x.npz"), challenger_run="x", previous_champion_run=None)
    text = promotion_markdown(first)
    assert text.startswith("# Model promotion: challenger x promoted\n\n"
                           "Challenger x promoted, the first champion: no model was promoted on this data "
                           "before.\n\n| model |")
    assert "| champion | none | n/a | n/a |" in text and "Test:" not in text and "champion right" not in text
