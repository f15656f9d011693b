"""The run's bookkeeping: its state while it runs (`tracked`: running, then completed or failed, with the
run's lock held and the orphan temporary files of interrupted writes removed first); its row in the history
of runs, whether it completes or fails, with index.html and the `run-history` artifact (`record_in_history`);
and retention at the end of a complete run (`apply_retention`).
"""

from __future__ import annotations

import dataclasses
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import httpx
import pyarrow as pa
from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE
from prefect.client.orchestration import get_client
from prefect.exceptions import ObjectNotFound
from prefect.runtime import flow_run
from prefect.states import Crashed

from flows.pipeline.evaluation import Evaluation
from flows.pipeline.params import PipelineParams
from flows.pipeline.sources import DataSource, resolve_data
from flows.report.artifacts import publish_run_history
from flows.report.runs import INDEX_ROWS, PLOT_COLUMNS, index_page
from flows.store import run_state
from flows.store.champion import Promotion
from flows.store.layout import RunLayout, index_html, run_history_path, source_key
from flows.store.orphans import remove_orphans
from flows.store.retention import Pruned, prune
from flows.store.run_history import RunRow, append_run, newest_runs, read_table
from mlp.atomic import write_bytes

MAX_ERROR = 500  # characters of a failed run's error kept in its row


@dataclass(frozen=True)
class RunEntry:
    """What is known of a run so far, for its row in the history: its parameters, when it began, and, once
    its folder exists, its layout and data."""

    params: PipelineParams
    started: datetime  # UTC
    clock: float  # time.perf_counter() when it began
    name: str
    layout: RunLayout | None = None
    source: DataSource | None = None

    @classmethod
    def begin(cls, params: PipelineParams) -> RunEntry:
        """A run beginning now, named like its flow run until its folder is claimed (`at`)."""
        return cls(params, datetime.now(timezone.utc), time.perf_counter(), flow_run.name or "unnamed")

    def at(self, layout: RunLayout, source: DataSource) -> RunEntry:
        """The run once its folder exists (its name may have a suffix: `flows.store.runs.claim_folder`)."""
        return dataclasses.replace(self, name=layout.name, layout=layout, source=source)

    def completed(self, evaluation: Evaluation, promotion: Promotion, report: Path) -> RunRow:
        """The row of a run that finished: its scores, the promotion decision and its report."""
        relative = Path(os.path.relpath(report, self.params.output_dir)).as_posix()
        return self._row("completed", None, evaluation, promotion.promoted, promotion.reason, relative)

    def failed(self, error: BaseException) -> RunRow:
        """The row of a run stopped by `error`: its scores if it was evaluated, else None."""
        text = " ".join(f"{type(error).__name__}: {error}".split())
        metrics = self.layout.metrics if self.layout else None
        evaluation = Evaluation.load(metrics) if metrics and metrics.is_file() else None
        return self._row("failed", text[:MAX_ERROR], evaluation, None, None, None)

    def _row(self, status: str, error: str | None, evaluation: Evaluation | None, promoted: bool | None,
             reason: str | None, report: str | None) -> RunRow:
        p, root = self.params, self._data_root()
        return RunRow(
            run=self.name, data_key=source_key(root) if root else None, data_root=str(root) if root else None,
            started=self.started.isoformat(timespec="seconds"), status=status, error=error,
            duration_s=round(time.perf_counter() - self.clock, 3), members=tuple(p.members),
            hidden=tuple(p.hidden), epochs=p.epochs, lr=p.lr, optimizer=p.optimizer, augment=p.augment,
            seed=p.seed, group_by=p.group_by, val_accuracy=evaluation.accuracy if evaluation else None,
            val_loss=evaluation.loss if evaluation else None, promoted=promoted, promotion_reason=reason,
            report=report)

    def _data_root(self) -> Path | None:
        """The run's data folder; before the run knew it, the one it would have used (None: none)."""
        if self.source is not None:
            return self.source.root
        try:
            return resolve_data(self.params.data_dir).root
        except OSError:
            return None


@task(cache_policy=NO_CACHE)
def record_in_history(row: RunRow, output_dir: Path) -> Path | None:
    """Append the run's row to the history of runs, rewrite index.html and publish the `run-history`
    artifact; return index.html. Nothing is written when the output folder lies inside the run's data folder
    (a run stopped for that reason), which is only ever read: None."""
    if row.data_root and Path(output_dir).resolve().is_relative_to(Path(row.data_root).resolve()):
        get_run_logger().error(f"Run {row.run} not recorded: the output folder {output_dir} lies inside the "
                               f"data folder {row.data_root}, which is only ever read")
        return None
    newest: list[RunRow] = []

    def write_index(table: pa.Table) -> None:  # under the history's lock: never from an older table
        newest[:] = newest_runs(table, limit=INDEX_ROWS)
        page = index_page(newest, len(table), table.select(PLOT_COLUMNS).to_pydict(), output_dir)
        write_bytes(index_html(output_dir), page.encode("utf-8"))

    total = append_run(output_dir, row, then=write_index)
    index = index_html(output_dir)
    publish_run_history(newest, total)
    get_run_logger().info(f"Run {row.run} recorded as {row.status} in {run_history_path(output_dir)}; "
                          f"all {total} runs: {index}")
    return index


@task(cache_policy=NO_CACHE)
def apply_retention(output_dir: Path, keep_runs: int, layout: RunLayout) -> Pruned:
    """Remove the run folders and champion versions beyond the newest `keep_runs` (never latest's or a
    champion's) and finished runs' rebuildable arrays (`flows.store.retention`); log what went. An OSError
    (a folder it may not delete) is logged as a warning, not raised: the run it ends is complete."""
    logger = get_run_logger()
    try:
        finished = set(read_table(output_dir)["run"].to_pylist()) | {layout.name}
        pruned = prune(output_dir, keep_runs, finished)
    except OSError as error:  # housekeeping: the run is complete; the next run's retention tries again
        logger.warning(f"Retention stopped ({error}); nothing more was removed, the next run tries again")
        return Pruned((), (), (), 0)
    logger.info(pruned.describe())
    return pruned


@contextmanager
def tracked(layout: RunLayout, output_dir: Path, resuming: bool) -> Iterator[None]:
    """Run the block as the run's one process (its lock held: `flows.store.run_state`), its state running
    (`begin_attempt`), and failed if the block raises. The block marks it completed (`complete_run`)."""
    with run_state.holding(layout):
        begin_attempt(layout, output_dir, resuming)
        try:
            yield
        except BaseException as error:
            try:
                run_state.write_state(layout, "failed", error=f"{type(error).__name__}: {error}")
            except OSError as unwritable:  # e.g. the full disk that failed the run: its error goes on
                get_run_logger().error(f"Run {layout.name}: its state could not be recorded: {unwritable}")
            raise


@task(cache_policy=NO_CACHE)
def begin_attempt(layout: RunLayout, output_dir: Path, resuming: bool) -> run_state.RunState:
    """Remove the orphan temporary files of interrupted writes (`flows.store.orphans`: this run's, those of
    runs no process runs, old ones elsewhere), then record the run as running (once more resumed)."""
    previous = run_state.read_state(layout)
    resumed = (previous.resumed if previous else 0) + 1 if resuming else 0
    count, freed = remove_orphans(output_dir, own=layout)
    logger = get_run_logger()
    if count:
        logger.info(f"Removed {count} temporary file(s) left by interrupted writes ({freed / 1e6:.1f} MB)")
    if resuming and previous is not None:
        logger.info(f"Run {layout.name}: resumed (resumption {resumed}); it was {previous.state} since "
                    f"{previous.updated}" + (f" ({previous.error})" if previous.error else ""))
        if previous.state == "running" and previous.flow_run_id:
            mark_crashed(previous.flow_run_id, layout.name)
    return run_state.write_state(layout, "running", resumed=resumed, flow_run_id=str(flow_run.id or ""))


def mark_crashed(flow_run_id: str, run: str) -> None:
    """Set the flow run of an attempt that was killed (it stays RUNNING in Prefect for ever otherwise) to
    Crashed, saying which run resumed it; a flow run this server does not know is left alone."""
    logger = get_run_logger()
    try:
        with get_client(sync_client=True) as client:
            client.set_flow_run_state(flow_run_id, Crashed(
                message=f"The process running it stopped; run {run} was resumed by flow run {flow_run.name}"),
                force=True)
    except (ObjectNotFound, httpx.HTTPError) as error:
        logger.info(f"The interrupted attempt's flow run {flow_run_id} is not on this server ({error})")
        return
    logger.info(f"The interrupted attempt's flow run {flow_run_id} is now Crashed")


@task(cache_policy=NO_CACHE)
def complete_run(layout: RunLayout) -> run_state.RunState:
    """Record the run as completed: its report and files are all written."""
    return run_state.write_state(layout, "completed")
