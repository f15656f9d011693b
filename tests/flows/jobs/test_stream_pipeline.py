"""The main job streaming its training rows (--data-source stream): on the fault tests' small data set it
reaches the accuracy of the run that holds them in memory, within noise; the rebuildable training file goes
with retention; a streamed run killed during training resumes to the weights of an uninterrupted streamed
run, bit for bit."""

from __future__ import annotations

from pathlib import Path

import pytest

from flows.cli import run_command
from flows.jobs.full_pipeline import full_pipeline
from flows.pipeline.evaluation import Evaluation
from flows.pipeline.params import parse_args
from flows.store.layout import RunLayout
from flows.store.run_state import read_state
from mlp import load_checkpoint
from tests.flows.jobs.small_run import EPOCHS, NETWORKS, assert_same_weights, flags, kill_during_training

pytestmark = pytest.mark.usefixtures("prefect_harness")

# 216 training rows of 16x16: 0.25 MB fits 78 rows, a stream of 39 for each of the two networks.
STREAM = ["--data-source", "stream", "--memory-budget-mb", "0.25"]


def stream_flags(data: Path) -> list[str]:
    return [*flags(data), *STREAM]


@pytest.fixture(scope="module")
def streamed(small_data, tmp_path_factory) -> RunLayout:
    """The small run, streamed, never interrupted."""
    output = tmp_path_factory.mktemp("streamed")
    return full_pipeline(parse_args([*stream_flags(small_data), "--output-dir", str(output)])).layout


def test_a_streamed_run_reaches_the_accuracy_of_the_run_held_in_memory(streamed, uninterrupted):
    in_stream = Evaluation.load(streamed.metrics).accuracy
    in_memory = Evaluation.load(uninterrupted.metrics).accuracy
    assert in_stream >= in_memory - 0.05, (in_stream, in_memory)  # 24 validation images: one or two of noise
    assert in_stream >= 0.9
    assert read_state(streamed).state == "completed"
    assert "216" in streamed.report_md.read_text()  # the training rows the networks streamed
    assert not streamed.train_stream.exists() and not streamed.train_data.exists()  # rebuildable: removed
    assert {n: load_checkpoint(streamed.member_checkpoints(n) / "last.npz").epoch for n in NETWORKS} == \
        dict.fromkeys(NETWORKS, EPOCHS)


def test_a_streamed_run_killed_during_training_resumes_to_the_weights_of_an_uninterrupted_one(
        small_data, streamed, tmp_path, prefect_api_env):
    output = tmp_path / "out"
    killed = kill_during_training(output, prefect_api_env, stream_flags(small_data))
    assert killed.train_stream.is_file()  # written again by the resumed run's shuffle stage: left as it is

    result = run_command("run", ["--resume", "--output-dir", str(output)])

    assert result.layout.root == killed.root
    assert_same_weights(killed, streamed)
    assert read_state(killed).state == "completed" and read_state(killed).resumed == 1
