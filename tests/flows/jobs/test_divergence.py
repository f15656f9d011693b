"""A run whose training diverges, end to end on the digits demo: it is reported from the epochs that
finished, the divergence named, never promoted nor made latest, recorded as failed, and the flow fails."""

from __future__ import annotations

import json

import pytest

from flows.jobs.full_pipeline import full_pipeline
from flows.pipeline.params import PipelineParams
from flows.store import layout
from flows.store.history import read_history_csv
from flows.store.layout import champion_link, latest_link, models_dir, source_key
from flows.store.run_history import read_runs
from mlp import load_checkpoint
from mlp.train import Diverged

pytestmark = pytest.mark.usefixtures("prefect_harness")

DIVERGING = {"optimizer": "sgd", "lr": 20.0, "schedule": "constant", "warmup_epochs": 0, "epochs": 5}


def test_a_diverging_run_is_reported_but_never_promoted_nor_latest(tmp_path, monkeypatch):
    monkeypatch.setattr(layout, "RAW_DIR", tmp_path / "data" / "raw")  # no train/ in it: the demo is used
    monkeypatch.setattr(layout, "DEMO_DIR", tmp_path / "data" / "demo")
    out = tmp_path / "out"
    first = full_pipeline(PipelineParams(output_dir=out, epochs=1, hidden=(16,)))  # a champion and latest
    with pytest.raises(Diverged) as caught:
        full_pipeline(PipelineParams(output_dir=out, hidden=(16,), **DIVERGING))
    error = caught.value
    assert error.network in ("1-raw", "2-framed") and error.lr == 20.0 and error.suggested_lr == 2.0
    assert 2 <= error.epoch <= 5 and error.batch is not None

    row = read_runs(out)[0]  # the newest
    run = out / "runs" / row.run
    assert row.status == "failed" and "diverged" in row.error and run != first.layout.root
    for name in ("report.html", "report.md", "metrics.json", "history.csv"):
        assert (run / name).is_file(), name
    html = (run / "report.html").read_text(encoding="utf-8")
    sentence = (f"Training diverged in network {error.network} at epoch {error.epoch}, batch {error.batch} "
                f"of {error.n_batches}, learning rate 20")
    assert sentence in html and "Try a lower --lr, e.g. 2." in html
    assert "never promoted" in html and "Never promoted: its training diverged" in html
    metrics = json.loads((run / "metrics.json").read_text())
    history = read_history_csv(run / "history.csv")
    diverged_rows = [row for row in history if row["member"] == error.network]
    assert [row["epoch"] for row in diverged_rows] == list(range(1, error.epoch))  # the finished epochs
    best = load_checkpoint(run / "checkpoints" / "best.npz")
    assert best.metrics["best_epochs"] == metrics["best_epochs"]

    champion = champion_link(models_dir(out, source_key(tmp_path / "data" / "demo")))
    assert champion.resolve().name == first.layout.name  # the diverged run never became the champion
    assert latest_link(out).resolve() == first.layout.root.resolve()
    assert not (run / "promotion.json").exists()
    assert row.val_accuracy == metrics["validation"]["accuracy"]
