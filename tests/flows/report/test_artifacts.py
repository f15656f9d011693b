"""The run's Prefect artifacts, published from a real flow and read back through the Prefect client."""

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
    publish_checkpoint,
    publish_data_quality,
    publish_report_artifacts,
)
from flows.report.content import SECTIONS, write_report
from tests.flows.report_samples import FOLDERS, NAMES, QUALITY, sample_report

pytestmark = pytest.mark.usefixtures("prefect_harness")


@flow
def _publish(run_dir: Path, checkpoint: Path) -> None:
    data = sample_report()
    publish_data_quality(QUALITY, FOLDERS, NAMES, data.run_name)
    publish_report_artifacts(data, write_report(data, run_dir))
    publish_checkpoint(checkpoint, note="Best epoch 2, validation accuracy 90.00%.")


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
    assert all(f"## {section}" in report.data for section in SECTIONS)
    assert report.data.count("](data:image/png;base64,") == 4

    per_class = json.loads(artifacts[PER_CLASS_ACCURACY].data)
    assert artifacts[PER_CLASS_ACCURACY].type == "table"
    assert [row["name"] for row in per_class] == ["博", "学", "笃"]
    assert per_class[0]["accuracy"] == pytest.approx(5 / 6) and per_class[2]["accuracy"] is None

    history = json.loads(artifacts[EPOCH_HISTORY].data)
    assert [row["epoch"] for row in history] == [1, 2, 3] and history[1]["val_accuracy"] == 0.9

    quality = json.loads(artifacts[DATA_QUALITY].data)
    assert {"section": "counts", "item": "1 博", "value": 6} in quality

    assert str(checkpoint.resolve()) in artifacts[MODEL_CHECKPOINT].data
    assert "validation accuracy 90.00%" in artifacts[MODEL_CHECKPOINT].data


def test_a_missing_checkpoint_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"best\.npz does not exist"):
        publish_checkpoint(tmp_path / "best.npz")
