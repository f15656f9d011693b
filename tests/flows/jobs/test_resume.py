"""Resuming the main job: a run killed with SIGKILL during training, then continued with ``--resume``, ends
with the weights of an uninterrupted run, bit for bit; so does a run whose training stage failed part-way
and that Prefect retried; a run that cannot be resumed is named in one line."""

from __future__ import annotations

import threading
import time

import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId, TaskRunFilter, TaskRunFilterName

from flows.cli import run_command
from flows.jobs.full_pipeline import full_pipeline
from flows.pipeline.params import parse_args
from flows.store.layout import RunLayout, latest_link, runs_dir
from flows.store.orphans import orphans
from flows.store.run_state import holding, is_running, read_state, write_state
from flows.store.runs import read_record
from tests.flows.jobs.small_run import (
    EPOCHS,
    NETWORKS,
    assert_same_weights,
    flags,
    kill_during_training,
    last_epoch,
    the_run,
)

pytestmark = pytest.mark.usefixtures("prefect_harness")



def test_a_run_killed_during_training_resumes_to_the_weights_of_an_uninterrupted_one(
        small_data, uninterrupted, tmp_path, prefect_api_env):
    output = tmp_path / "out"
    killed = kill_during_training(output, prefect_api_env, flags(small_data))
    state = read_state(killed)
    assert state.state == "running" and not is_running(killed)  # what kill -9 leaves: incomplete
    assert not latest_link(output).exists() and not killed.best.exists()
    epochs_done = {n: last_epoch(killed, n) for n in NETWORKS}
    with get_client(sync_client=True) as client:
        assert client.read_flow_run(state.flow_run_id).state.is_running()  # for ever, unless resumed

    result = run_command("run", ["--resume", "--output-dir", str(output), "--keep-runs", "5"])

    assert result.layout.root == killed.root
    assert read_record(killed)["parameters"]["keep_runs"] == 20  # the run's own; --keep-runs 5 this time
    assert_same_weights(killed, uninterrupted)
    after = read_state(killed)
    assert (after.state, after.resumed) == ("completed", 1) and after.flow_run_id != state.flow_run_id
    assert latest_link(output).resolve() == killed.root.resolve()
    assert orphans(output) == []
    assert any(e < EPOCHS for e in epochs_done.values())
    with get_client(sync_client=True) as client:  # the killed attempt is Crashed, naming who resumed it
        crashed = client.read_flow_run(state.flow_run_id).state
    assert crashed.is_crashed() and f"run {killed.name} was resumed by flow run" in crashed.message


def test_a_failed_training_stage_is_retried_by_prefect_and_resumes(small_data, uninterrupted, tmp_path):
    """A transient fault: history.csv is a folder from the moment the run's folder appears, so the first
    epoch's end fails (IsADirectoryError, an OSError) after each network saved its last.npz; the folder goes
    once Prefect has scheduled the retry, which resumes each network from its last.npz."""
    output = tmp_path / "out"
    seen = {}

    def fault() -> None:
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline and (run := the_run(output)) is None:
            time.sleep(0.002)
        run.history.mkdir()  # before the first epoch ends: the data stages take a second or more
        with get_client(sync_client=True) as client:
            while time.monotonic() < deadline:
                waiting = client.read_task_runs(task_run_filter=TaskRunFilter(
                    name=TaskRunFilterName(like_="train_model")))
                if any(task.state and task.state.name == "AwaitingRetry" for task in waiting):
                    seen["saved"] = {n: last_epoch(run, n) for n in NETWORKS}
                    run.history.rmdir()
                    return
                time.sleep(0.1)

    watcher = threading.Thread(target=fault, daemon=True)
    watcher.start()
    state = full_pipeline(parse_args([*flags(small_data), "--output-dir", str(output)]), return_state=True)
    watcher.join(timeout=60)
    assert seen and all(1 <= epoch < EPOCHS for epoch in seen["saved"].values()), seen
    result = state.result()
    assert_same_weights(result.layout, uninterrupted)
    with get_client(sync_client=True) as client:
        [train] = client.read_task_runs(
            flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[state.state_details.flow_run_id])),
            task_run_filter=TaskRunFilter(name=TaskRunFilterName(like_="train_model")))
    assert train.run_count == 2 and train.state.is_completed()


def test_a_run_that_cannot_be_resumed_ends_the_command_in_one_line(uninterrupted, capsys):
    output = uninterrupted.root.parents[1]
    for argv, message in [
        (["--resume"], f"no incomplete run in {runs_dir(output)}"),
        (["--resume", uninterrupted.name], f"run {uninterrupted.name} is complete; nothing to resume"),
        (["--resume", "--lr", "0.1"], "--resume continues a run with the parameters it began with (its "
                                      "params.json); leave out --lr"),
    ]:
        with pytest.raises(SystemExit) as stop:
            run_command("run", [*argv, "--output-dir", str(output)])
        assert stop.value.code == 2
        [line] = capsys.readouterr().err.strip().splitlines()
        assert line.startswith("python flows/full_pipeline.py: error: --resume") and message in line


def test_a_run_held_by_another_process_is_not_resumed(tmp_path, capsys):
    busy = RunLayout.at(runs_dir(tmp_path) / "20261203-090000-data")
    busy.root.mkdir(parents=True)
    write_state(busy, "running")
    with holding(busy), pytest.raises(SystemExit) as stop:  # held as by the process still running it
        run_command("run", ["--resume", busy.name, "--output-dir", str(tmp_path)])
    assert stop.value.code == 2
    assert f"run {busy.name} is still running in another process" in capsys.readouterr().err
    assert read_state(busy).state == "running"
