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
    TRAINING_REPORT,
    checkpoint_markdown,
    promotion_markdown,
    publish_checkpoint,
    publish_data_quality,
    publish_report_artifacts,
)
from flows.report.content import SECTIONS
from flows.report.render import data_uri, write_report
from flows.store.champion import RULE, Promotion
from tests.flows.report_samples import DATA_QUALITY as SAMPLE_QUALITY
from tests.flows.report_samples import sample_report


@flow
def _publish(run_dir: Path, checkpoint: Path) -> None:
    data = sample_report()
    publish_data_quality(SAMPLE_QUALITY, data.run_name)
    publish_report_artifacts(data, write_report(data, run_dir))
    publish_checkpoint(checkpoint, note="Best epoch 2, validation accuracy 90.00%.")


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
    assert [row["epoch"] for row in history] == [1, 2, 3] and history[1]["val_accuracy"] == 0.9

    quality = json.loads(artifacts[DATA_QUALITY].data)
    assert artifacts[DATA_QUALITY].type == "table"
    assert {"section": "summary", "item": "Files reused from the last ingest", "value": 13} in quality
    assert {"section": "train images per class", "item": "1 博", "value": 6} in quality
    assert {"section": "skipped", "item": "train/3/bad.bmp", "value": "cannot identify image file"} in quality

    assert str(checkpoint.resolve()) in artifacts[MODEL_CHECKPOINT].data
    assert "validation accuracy 90.00%" in artifacts[MODEL_CHECKPOINT].data


def test_the_checkpoint_markdown_by_hand(tmp_path):
    checkpoint = tmp_path / "my_run" / "best.npz"
    checkpoint.parent.mkdir()
    checkpoint.write_bytes(b"x" * 1_250_000)
    text = checkpoint_markdown(checkpoint, note="Run my_run: validation accuracy 90.00%.")
    assert text == (f"# Model checkpoint\n\n`{checkpoint}` (1.25 MB)\n\n"
                    "Run my\\_run: validation accuracy 90.00%.\n\n"
                    f"Predict with it: `python flows/predict.py --model {checkpoint} --images DIR`\n")
    assert "Run" not in checkpoint_markdown(checkpoint)


def test_a_missing_checkpoint_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"best\.npz does not exist"):
        publish_checkpoint(tmp_path / "best.npz")


def test_the_promotion_markdown_by_hand():
    kept = Promotion(False, "equal accuracy, loss not lower", 0.9, 0.31, 0.9, 0.3, 100, 5, "old_run",
                     Path("/m/versions/old_run/model.npz"), "new_run")
    assert promotion_markdown(kept) == (
        "# Model promotion: champion old\\_run kept\n\n"
        "Reason: equal accuracy, loss not lower.\n\n"
        "| model | run | validation accuracy | validation loss |\n| --- | --- | --- | --- |\n"
        "| challenger | new\\_run | 90.00% | 0.3100 |\n| champion | old\\_run | 90.00% | 0.3000 |\n\n"
        "Compared on 100 of the challenger's validation images, each model through its own saved normaliser; "
        f"5 left out because the champion was trained on them. Rule: {RULE}.\n\n"
        "Champion model now: /m/versions/old\\_run/model.npz\n")
    first = Promotion(True, "no champion yet", 0.5, 1.2, None, None, 10, 0, None, Path("/m/x.npz"), "x")
    text = promotion_markdown(first)
    assert text.startswith("# Model promotion: challenger x promoted\n")
    assert "| champion | none | n/a | n/a |" in text
