"""The history of runs: rows round-trip through the Parquet table, newest first; runs appending at once all
keep their rows; a table missing a newer column still reads; a file that is no history is refused."""

from __future__ import annotations

import dataclasses
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from flows.store.layout import run_history_path
from flows.store.run_history import SCHEMA, RunRow, append_run, read_runs, read_table
from mlp.atomic import write_bytes

PARAMS = {"members": ("raw", "framed"), "hidden": (1024, 512), "epochs": 3, "lr": 1e-3, "optimizer": "adamw",
          "augment": "distort", "seed": 0, "group_by": "stem"}


def completed(run: str, started: str, key: str = "hanzi12-0123456789ab", **changes) -> RunRow:
    return dataclasses.replace(RunRow(
        run=run, data_key=key, data_root="/data/hanzi12", started=started, duration_s=41.25,
        status="completed", error=None, **PARAMS, val_accuracy=0.9762, val_loss=0.0913, promoted=True,
        promotion_reason="no model was promoted on this data before", report=f"runs/{run}/report.html",
    ), **changes)


def failed(run: str, started: str) -> RunRow:
    return RunRow(run=run, data_key=None, data_root=None, started=started, duration_s=0.5, status="failed",
                  error="DatasetError: class folder train/2 holds no image", **PARAMS)


def test_rows_round_trip_newest_first(tmp_path):
    rows = [completed("20261203-072717-hanzi12", "2026-12-03T07:27:17+00:00"),
            failed("20261203-093000-hanzi12", "2026-12-03T09:30:00+00:00"),
            completed("20261203-080000-digits", "2026-12-03T08:00:00+00:00", key="digits-abcdef012345",
                      promoted=False, members=("raw",), hidden=(64,))]
    assert [append_run(tmp_path, row) for row in rows] == [1, 2, 3]
    assert read_runs(tmp_path) == [rows[1], rows[2], rows[0]]  # every field back, types included
    assert read_runs(tmp_path, data_key="digits-abcdef012345") == [rows[2]]
    assert read_runs(tmp_path, limit=1) == [rows[1]]
    assert run_history_path(tmp_path) == tmp_path / "history" / "runs.parquet"
    table = pq.read_table(run_history_path(tmp_path))  # a plain Parquet table, in the order recorded
    assert table.schema == SCHEMA and table["run"].to_pylist() == [r.run for r in rows]
    assert table["val_accuracy"].to_pylist() == [0.9762, None, 0.9762]
    assert read_table(tmp_path).select(["run", "promoted"]).to_pydict()["promoted"] == [True, None, False]


def test_no_history_yet_reads_as_no_runs(tmp_path):
    assert read_runs(tmp_path / "never-written") == []
    assert len(read_table(tmp_path)) == 0 and not (tmp_path / "history").exists()


def _append_many(output_dir: str, worker: int, n: int) -> None:
    """Append n rows, each time writing index.txt (the number of rows) from the table, as index.html is."""
    def index(table: pa.Table) -> None:
        write_bytes(Path(output_dir) / "index.txt", str(len(table)).encode())

    for k in range(n):
        append_run(output_dir, completed(f"w{worker}-{k:03d}", f"2026-12-03T10:{worker:02d}:{k:02d}+00:00"),
                   then=index)


def test_two_processes_appending_at_once_lose_no_row(tmp_path):
    with ProcessPoolExecutor(2, mp_context=get_context("spawn")) as pool:
        done = [pool.submit(_append_many, str(tmp_path), worker, 25) for worker in (1, 2)]
        for future in done:
            future.result()
    names = sorted(r.run for r in read_runs(tmp_path))
    assert names == sorted(f"w{w}-{k:03d}" for w in (1, 2) for k in range(25))
    assert [p.name for p in (tmp_path / "history").iterdir() if p.name != ".lock"] == ["runs.parquet"]
    assert (tmp_path / "index.txt").read_text() == "50"  # written under the lock: never from an older table


def test_a_table_without_a_newer_column_reads_with_it_empty(tmp_path):
    row = completed("20261203-072717-hanzi12", "2026-12-03T07:27:17+00:00")
    path = run_history_path(tmp_path)
    path.parent.mkdir()
    older = pa.Table.from_pylist([dataclasses.asdict(row)], schema=SCHEMA).drop_columns(["promotion_reason"])
    pq.write_table(older, path)
    assert read_runs(tmp_path) == [dataclasses.replace(row, promotion_reason=None)]
    append_run(tmp_path, failed("20261203-093000-hanzi12", "2026-12-03T09:30:00+00:00"))
    assert pq.read_schema(path) == SCHEMA and len(read_runs(tmp_path)) == 2


def test_a_file_that_is_no_history_is_refused_by_name(tmp_path):
    path = run_history_path(tmp_path)
    path.parent.mkdir()
    path.write_text("run,started\n")
    with pytest.raises(ValueError, match=rf"{path} is not a run history written by mlpflow"):
        read_runs(tmp_path)
    with pytest.raises(ValueError, match="is not a run history"):
        append_run(tmp_path, failed("x", "2026-12-03T09:30:00+00:00"))
    assert path.read_text() == "run,started\n"  # untouched


@pytest.mark.parametrize("changes, message", [
    ({"status": "crashed"}, "status must be one of completed, failed, got 'crashed'"),
    ({"status": "failed"}, "a failed run needs its error"),
    ({"error": "ValueError: x"}, "a completed one has none"),
])
def test_a_row_must_say_how_the_run_ended(changes, message):
    with pytest.raises(ValueError, match=message):
        completed("r", "2026-12-03T07:27:17+00:00", **changes)

