"""The stage tests: task functions run without the engine (`task.fn`), on a small real data root."""

from __future__ import annotations

import pytest
from prefect.logging import disable_run_logger

from flows.pipeline.params import PipelineParams
from flows.pipeline.preparation import ingest_images, prepare_data, start_run
from tests.data_trees import STAGE_CLASSES, clean_root


@pytest.fixture(autouse=True)
def _no_run_logger():
    with disable_run_logger():
        yield


@pytest.fixture
def run(tmp_path):
    """A data root of 10 images in each of 3 classes, its run folder, and the ingested data set."""
    root = tmp_path / "data"
    clean_root(root, per_class=10, classes=STAGE_CLASSES)
    params = PipelineParams(data_dir=root, output_dir=tmp_path / "out")
    source = prepare_data.fn(params.data_dir)
    layout = start_run.fn(params, source, "20261127-104512-data")
    return params, source, layout, ingest_images.fn(source, layout, params.output_dir)
