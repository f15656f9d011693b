"""The fault tests' small data set and its uninterrupted run, made once for the session."""

from __future__ import annotations

from pathlib import Path

import pytest

from flows.store.layout import RunLayout
from tests.data_trees import separable_classes
from tests.flows.jobs.small_run import flags


@pytest.fixture(scope="session")
def small_data(tmp_path_factory) -> Path:
    return separable_classes(tmp_path_factory.mktemp("small") / "data")


@pytest.fixture(scope="session")
def uninterrupted(small_data, tmp_path_factory, prefect_harness) -> RunLayout:
    """The small run, never interrupted: what every interrupted and resumed one must end as."""
    from flows.jobs.full_pipeline import full_pipeline
    from flows.pipeline.params import parse_args

    output = tmp_path_factory.mktemp("uninterrupted")
    return full_pipeline(parse_args([*flags(small_data), "--output-dir", str(output)])).layout
