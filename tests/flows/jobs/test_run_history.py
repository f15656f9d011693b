"""The history of runs end to end, on real data: a completed run, a run that fails for real (an empty class
folder) and a second completed run with --keep-runs 1 each leave their row in history/runs.parquet, in
index.html and in the `run-history` artifact; retention keeps latest and the champion; `mlpflow runs` and
``python flows/runs.py`` print the table."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

from flows.cli import run_command
from flows.jobs.full_pipeline import full_pipeline
from flows.pipeline.params import PipelineParams
from flows.report.runs import artifact_rows, runs_text
from flows.store.layout import RunLayout, champion_link, index_html, models_dir, source_key
from flows.store.run_history import read_runs
from mlp.data.quality import DatasetError

pytestmark = pytest.mark.usefixtures("prefect_harness")

REPO = Path(__file__).resolve().parents[3]
PER_CLASS = 15
TINY = {"hidden": (32,), "epochs": 2, "batch_size": 32, "val_fraction": 0.2}


@pytest.fixture(scope="module")
def folders(hanzi12_root, tmp_path_factory) -> tuple[Path, Path]:
    """A hanzi12 subset (PER_CLASS images of each class), and a copy of it with an empty class folder."""
    good = tmp_path_factory.mktemp("hanzi12-subset")
    for folder in sorted((hanzi12_root / "train").iterdir()):
        (good / "train" / folder.name).mkdir(parents=True)
        for file in sorted(folder.glob("*.bmp"), key=lambda p: int(p.stem))[:PER_CLASS]:
            shutil.copy2(file, good / "train" / folder.name / file.name)
    bad = tmp_path_factory.mktemp("empty-class") / "hanzi12-broken"
    shutil.copytree(good, bad)
    (bad / "train" / "13").mkdir()  # stops the run at ingest: a class folder without an image
    return good, bad


@pytest.fixture(scope="module")
def runs(folders, tmp_path_factory):
    """Output folder, then the states of: a completed run, a failed one, a completed one keeping 1 run."""
    good, bad = folders
    out = tmp_path_factory.mktemp("out")
    first = full_pipeline(PipelineParams(data_dir=good, output_dir=out, **TINY), return_state=True)
    broken = full_pipeline(PipelineParams(data_dir=bad, output_dir=out, **TINY), return_state=True)
    second = full_pipeline(PipelineParams(data_dir=good, output_dir=out, keep_runs=1, seed=1, **TINY),
                           return_state=True)
    return out, first, broken, second


def _artifacts(state) -> dict:
    run_filter = FlowRunFilter(id=FlowRunFilterId(any_=[state.state_details.flow_run_id]))
    with get_client(sync_client=True) as client:
        return {a.key: a for a in client.read_artifacts(flow_run_filter=run_filter)}


def test_every_run_complete_or_failed_has_its_row(runs, folders):
    out, first, broken, second = runs
    assert first.is_completed() and broken.is_failed() and second.is_completed()
    with pytest.raises(DatasetError):  # the run failed with its own error, recorded on the way
        broken.result()
    a, b = first.result(), second.result()
    newest, failed, oldest = read_runs(out)
    assert (newest.run, oldest.run) == (b.layout.name, a.layout.name)
    assert oldest.status == "completed" and oldest.error is None and oldest.promoted is True
    assert oldest.val_accuracy == a.val_accuracy and oldest.val_loss == a.val_loss
    assert oldest.report == f"runs/{a.layout.name}/report.html"
    assert oldest.data_key == source_key(folders[0]) and oldest.data_root == str(folders[0].resolve())
    assert (oldest.epochs, oldest.hidden, oldest.members) == (2, (32,), ("raw", "framed"))
    assert (oldest.seed, newest.seed) == (0, 1)
    assert newest.promoted is b.promoted and newest.promotion_reason
    assert failed.status == "failed" and failed.error.startswith("DatasetError: ")
    assert "\n" not in failed.error and "13" in failed.error
    assert failed.data_key == source_key(folders[1]) and failed.run.endswith("-hanzi12-broken")
    assert (failed.val_accuracy, failed.val_loss, failed.promoted, failed.report) == (None,) * 4
    assert oldest.started < failed.started < newest.started and all(
        r.duration_s > 0 for r in (newest, failed, oldest))
    assert list(b.stage_seconds)[-2:] == ["history", "retention"]


def test_retention_kept_latest_and_the_champion_and_dropped_the_failed_run(runs, folders):
    out, first, _, second = runs
    a, b = first.result().layout, second.result().layout
    champion = champion_link(models_dir(out, source_key(folders[0]))).resolve().name
    assert champion == a.name  # the second run was compared on too few images to replace it
    assert sorted(p.name for p in (out / "runs").iterdir() if not p.name.startswith(".")) == sorted(
        [a.name, b.name])  # keep 1: the newest (latest) and the champion's run; the failed run's folder went
    assert (out / "latest").resolve() == b.root.resolve()
    for layout in (a, b):  # rebuildable from dataset.parquet and split.npz: gone; the rest stays
        assert not layout.train_data.exists()
        assert layout.val_data.is_file() and layout.best.is_file() and layout.report_html.is_file()


def test_index_lists_every_run_newest_first_with_working_relative_links(runs):
    out, first, _, second = runs
    page = index_html(out).read_text(encoding="utf-8")
    names = [r.run for r in read_runs(out)]
    assert [page.index(name) for name in names] == sorted(page.index(name) for name in names)
    links = re.findall(r'<a href="([^"]+)">([^<]+)</a>', page)
    assert [name for _, name in links] == [second.result().layout.name, first.result().layout.name]
    for href, name in links:
        assert not Path(href).is_absolute() and (out / href).resolve() == RunLayout.create(
            out, name).report_html.resolve() and (out / href).is_file()
    assert 'class="failed"' in page and "DatasetError" in page
    assert page.count('src="data:image/png;base64,') == 1  # accuracy over runs


def test_the_run_history_artifact_lists_the_runs_formatted(runs):
    out, first, broken, second = runs
    rows = json.loads(_artifacts(second)["run-history"].data)
    assert rows == artifact_rows(read_runs(out))
    assert rows[-1]["val accuracy"] == f"{100 * first.result().val_accuracy:.2f}%"
    assert json.loads(_artifacts(broken)["run-history"].data)[0]["status"] == "failed"


def test_the_runs_command_and_script_print_the_table(runs, folders, capsys):
    out = runs[0]
    printed = run_command("runs", ["--output-dir", str(out)])
    text = capsys.readouterr().out
    assert text == runs_text(read_runs(out)) and len(text.splitlines()) == 4
    assert text.splitlines()[1].startswith(runs[3].result().layout.name)
    assert printed == read_runs(out)
    only = run_command("runs", ["--output-dir", str(out), "--data", source_key(folders[0])])
    assert [r.status for r in only] == ["completed", "completed"]
    assert capsys.readouterr().out == runs_text(only)
    done = subprocess.run([sys.executable, "flows/runs.py", "--output-dir", str(out)], cwd=REPO,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and done.stdout == text, done.stderr


def test_the_runs_command_says_when_there_is_nothing_to_list(runs, tmp_path, capsys):
    run_command("runs", ["--output-dir", str(tmp_path)])
    assert capsys.readouterr().out.startswith(f"No runs recorded in {tmp_path} yet")
    run_command("runs", ["--output-dir", str(runs[0]), "--data", "nothing-0123456789ab"])
    assert capsys.readouterr().out.startswith(f"No runs on data nothing-0123456789ab in {runs[0]}")


def test_a_run_stopped_for_writing_into_its_data_folder_leaves_no_row_there(folders, tmp_path):
    data = tmp_path / "my-data"
    shutil.copytree(folders[0], data)
    before = sorted(p.relative_to(data) for p in data.rglob("*"))
    state = full_pipeline(PipelineParams(data_dir=data, output_dir=data / "out", **TINY), return_state=True)
    assert state.is_failed()
    with pytest.raises(ValueError, match="lies inside the data folder"):
        state.result()
    assert sorted(p.relative_to(data) for p in data.rglob("*")) == before  # the data is only ever read
