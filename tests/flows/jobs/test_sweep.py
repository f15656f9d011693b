"""The sweep: its configurations and comparison files by hand, and one small real sweep read back."""

from __future__ import annotations

import csv
import json
import time

import pytest
from PIL import Image
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

from flows.cli import run_command
from flows.jobs.sweep import (
    COLUMNS,
    SWEEP_COMPARISON,
    comparison_markdown,
    ranked,
    run_configuration,
    sweep,
)
from flows.pipeline.params import PipelineParams
from flows.pipeline.variants import VARIANTS
from flows.store.tables import csv_text
from mlp.data import files
from tests.data_trees import clean_root

ROWS = [
    dict(zip(COLUMNS, values, strict=True))
    for values in [
        ("no-augment", "augment=none", 0.9, 0.3, 2, 40, "no-augment/checkpoints/best.npz", 1.5),
        ("default", "base", 0.95, 0.2, 3, 200, "default/checkpoints/best.npz", 4.0),
        ("no-dropout", "dropout=0.0", 0.95, 0.1, 3, 200, "no-dropout/checkpoints/best.npz", 3.0),
    ]
]

PROG = "python flows/sweep.py"  # the command line's name in its usage and error lines


def test_ranked_best_accuracy_first_then_lowest_loss():
    assert [r["config"] for r in ranked(ROWS)] == ["no-dropout", "default", "no-augment"]


def test_comparison_files():
    rows = list(csv.DictReader(csv_text(ROWS, COLUMNS).splitlines()))
    assert list(rows[0]) == list(COLUMNS) and rows[1]["val_accuracy"] == "0.95"
    text = comparison_markdown(ROWS, "Sweep x")
    assert text.startswith("# Sweep x\n\n| config | changes | validation accuracy |")
    assert ("| no-augment | augment=none | 90.00% | 0.3 | 2 | 40 | no-augment/checkpoints/best.npz | 1.5 |"
            in text)


def test_help_lists_the_configurations_and_the_pipeline_flags_in_plain_words(capsys):
    with pytest.raises(SystemExit) as exit_info:
        run_command("sweep", ["--help"])
    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    assert text.startswith(f"usage: {PROG} [-h] [--data-dir DIR]")
    assert "`" not in text and "VARIANTS" not in text and "STUDIES" not in text  # no internals, no markup
    for flag in ("--configs NAME[,NAME...]", "--epochs EPOCHS", "--batch-size BATCH_SIZE", "--data-dir DIR",
                 "--hidden N[,N...]", "--output-dir DIR"):
        assert flag in text
    assert "\nstudies (--configs takes their names too):\n  one-change " in text
    configurations = text[text.index("configurations (their changes to the base):"):]
    for name in VARIANTS:
        assert f"\n  {name} " in configurations
    assert "\n  hidden-100                  hidden=100\n" in configurations
    assert "first-edition-distorted-100 first-edition-distorted for 100 epochs" in configurations


def test_pipeline_flags_set_the_base_and_unknown_flags_end_in_one_line(capsys):
    with pytest.raises(SystemExit) as exit_info:
        run_command("sweep", ["--configs", "default", "--epochs", "0"])
    assert exit_info.value.code == 2
    assert capsys.readouterr().err.strip().splitlines()[-1] == (
        f"{PROG} [--configs NAMES] [--runner R] [--address A]: error: --epochs: must be an integer >= 1 "
        "(got 0)")
    with pytest.raises(SystemExit) as exit_info:
        run_command("sweep", ["--config", "default"])  # no abbreviations: --config is not --configs
    assert exit_info.value.code == 2
    assert capsys.readouterr().err.strip().splitlines()[-1] == (
        f"{PROG}: error: unrecognized arguments: --config default")


def test_bad_configs_flag_is_one_line(capsys):
    with pytest.raises(SystemExit) as exit_info:
        run_command("sweep", ["--configs", "default,wide"])
    assert exit_info.value.code == 2
    assert capsys.readouterr().err.strip().splitlines()[-1].startswith(
        f"{PROG}: error: --configs: unknown sweep configurations ['wide']")


@pytest.mark.usefixtures("prefect_harness")
def test_a_sweep_trains_each_configuration_on_one_split(tmp_path):
    root = tmp_path / "data"
    clean_root(root, per_class=10, classes=("1", "2", "10"))
    params = PipelineParams(data_dir=root, output_dir=tmp_path / "out", hidden=(16,), epochs=2, batch_size=8,
                            val_fraction=0.2)
    state = sweep(params, ["default", "shift-augment", "hidden-100"], return_state=True)
    assert state.is_completed()
    result = state.result()
    assert result.root.parent == tmp_path / "out" / "sweeps"
    assert sorted(r["config"] for r in result.rows) == ["default", "hidden-100", "shift-augment"]
    by_name = {r["config"]: r for r in result.rows}
    # Distortions are drawn afresh every epoch from the 24 images; shifts are made once, 5x the images.
    assert by_name["shift-augment"]["train_images"] == 5 * by_name["default"]["train_images"] == 5 * 24
    val = files.load_arrays(result.root / "shared" / "data" / "val.npz")["y"]
    for name in by_name:
        metrics = json.loads((result.root / name / "metrics.json").read_text(encoding="utf-8"))
        assert metrics["validation"]["n"] == len(val) == 6  # one validation set for all
        assert metrics["validation"]["accuracy"] == by_name[name]["val_accuracy"]
        assert (result.root / name / "checkpoints" / "best.npz").is_file()
        assert by_name[name]["checkpoint"] == f"{name}/checkpoints/best.npz"
    with open(result.csv, newline="", encoding="utf-8") as handle:
        assert [r["config"] for r in csv.DictReader(handle)] == [r["config"] for r in result.rows]
    with Image.open(result.root / "curves.png") as curves:  # the configurations' validation curves overlaid
        assert curves.size == (1000, 450)
    lines = result.markdown.read_text(encoding="utf-8").splitlines()
    table = [line for line in lines if line.startswith("|")]
    assert len(table) == 5  # header, separator, three rows
    run_filter = FlowRunFilter(id=FlowRunFilterId(any_=[state.state_details.flow_run_id]))
    with get_client(sync_client=True) as client:
        artifacts = client.read_artifacts(flow_run_filter=run_filter)
    artifacts = [a for a in artifacts if a.key == SWEEP_COMPARISON]
    assert len(artifacts) == 1
    assert [r["config"] for r in json.loads(artifacts[0].data)] == [r["config"] for r in result.rows]
    runs = _finished_task_runs(state.state_details.flow_run_id, run_configuration.name, 3)
    spans = sorted((run.start_time, run.end_time) for run in runs)
    # Two workers: the second configuration starts before the first has ended.
    assert spans[1][0] < spans[0][1], spans


def _finished_task_runs(flow_run_id, task_name: str, n: int, timeout: float = 30.0) -> list:
    """The flow run's `n` runs of `task_name`, once the server has recorded when each started and ended
    (task-run states reach it as events, a little after the flow returns)."""
    run_filter = FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id]))
    deadline = time.monotonic() + timeout
    while True:
        with get_client(sync_client=True) as client:
            runs = [r for r in client.read_task_runs(flow_run_filter=run_filter)
                    if r.name.startswith(f"{task_name}-")]
        done = [r for r in runs if r.start_time and r.end_time]
        if len(done) == n or time.monotonic() > deadline:
            assert len(done) == n, [(r.name, r.start_time, r.end_time) for r in runs]
            return done
        time.sleep(0.5)
