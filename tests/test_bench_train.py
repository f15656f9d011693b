"""The training benchmark's machinery on tiny work: runners, interleaved noise-aware measuring, the table.

Only mlpflow and the GEMM floor run here: the peers (torch, scikit-learn) are benchmark extras, not test
dependencies, so a plain function stands in for a peer where the table's logic needs one.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from benchmarks.bench_train import (
    MachineSpeed,
    Measurement,
    busy_cpu_seconds,
    cases,
    measure,
    rate,
    render,
    synthetic_data,
)
from benchmarks.train_breakdown import PARTS, breakdown
from benchmarks.train_runners import Case, run_gemm_floor, run_mlpflow


def test_cases_are_the_issues_configurations():
    rows = cases()
    shallow = [c for c in rows if c.layer_sizes == (784, 500, 12) and not c.dropout]
    assert [c.batch_size for c in shallow] == [1, 16, 64, 256]
    assert [(c.batch_size, c.dropout) for c in rows if c.dropout] == [(64, 0.5)]
    assert [c.batch_size for c in rows if c.layer_sizes == (784, 512, 512, 512, 12)] == [64]
    assert all(c.batch_size <= c.n_samples <= 37_200 for c in cases(0.01))


def test_synthetic_data_is_float32_rows_with_labels_in_range():
    X, y = synthetic_data(500)
    assert X.shape == (500, 784) and X.dtype == np.float32 and X.flags.c_contiguous
    assert y.shape == (500,) and y.dtype == np.int64 and set(np.unique(y)) <= set(range(12))


def test_mlpflow_and_gemm_floor_runners_time_real_work():
    X, y = synthetic_data(200)
    case = Case((784, 16, 12), 32, 200, epochs=2)
    seconds, loss = run_mlpflow(case, X, y, 0)
    assert seconds > 0 and 0 < loss < np.log(12) + 1
    for batch in (1, 32):  # batch 1 takes the outer-product path
        seconds, loss = run_gemm_floor(Case((784, 16, 8, 12), batch, 40), X[:40], y[:40], 0)
        assert seconds > 0 and loss is None


def test_rate_is_samples_over_the_median_time():
    case = Case((784, 8, 12), 16, 100, epochs=2)
    cell = [Measurement(4.0, None, 0.0), Measurement(1.0, None, 0.0), Measurement(2.0, None, 0.0)]
    assert rate(case, cell) == 200 / 2.0
    assert rate(case, "skipped (torch not installed)") is None


def test_measure_and_render_give_rates_ratios_and_reasons():
    X, y = synthetic_data(128)
    case = Case((784, 8, 12), 64, 128, epochs=1, dropout=0.5)
    table = {"mlpflow": run_mlpflow, "torch": "skipped (torch not installed)",
             "sklearn": run_gemm_floor, "GEMM floor": run_gemm_floor}  # a stand-in for sklearn's runner
    cells, redone = measure(case, table, X, y, repeat=2, max_other_load=float("inf"), retries=0, patience=0.0)
    assert redone == 0 and len(cells["mlpflow"]) == len(cells["GEMM floor"]) == 2
    assert cells["torch"] == "skipped (torch not installed)" and cells["sklearn"] == "n/a (no dropout)"
    header, _, row = render([(case, cells)]).splitlines()
    assert header == ("| config | epochs x samples | mlpflow | torch | sklearn | GEMM floor | "
                      "mlpflow/torch | mlpflow/sklearn | mlpflow/GEMM floor |")
    values = [cell.strip() for cell in row.strip("|").split("|")]
    ours, floor = rate(case, cells["mlpflow"]), rate(case, cells["GEMM floor"])
    assert values[:6] == [case.label, "1 x 128", f"{ours:,.0f}", "skipped (torch not installed)",
                          "n/a (no dropout)", f"{floor:,.0f}"]
    assert values[6:] == ["-", "-", f"{ours / floor:.2f}"]


@pytest.mark.skipif(busy_cpu_seconds() is None, reason="no /proc/stat: other processes' load is unknown")
def test_disturbed_repeats_are_redone_at_most_retries_times():
    X, y = synthetic_data(64)
    case = Case((784, 8, 12), 32, 64, epochs=1)
    cells, redone = measure(case, {"GEMM floor": run_gemm_floor}, X, y, repeat=2, max_other_load=-1.0,
                            retries=2, patience=0.0)  # every run counts as disturbed; no waiting
    assert redone == 2 * 2 and len(cells["GEMM floor"]) == 2


def test_breakdown_times_every_part_of_the_batch_loop():
    case = Case((6, 5, 3), 4, 10, epochs=1, dropout=0.5)
    X, y = np.random.default_rng(0).standard_normal((10, 6)).astype(np.float32), np.arange(10) % 3
    spent = breakdown(case, X, y, 0)
    assert set(spent) == set(PARTS)
    assert all(seconds > 0 for seconds in spent.values())


def test_repeats_around_which_the_machine_ran_slow_are_redone_and_the_least_slowed_kept():
    X, y = synthetic_data(64)
    case = Case((784, 8, 12), 32, 64, epochs=1)
    speed = MachineSpeed()
    assert speed.slowdown() == 1.0 and speed.slowdown() >= 1.0 and 0 < speed.best < 1
    cells, redone = measure(case, {"GEMM floor": run_gemm_floor}, X, y, repeat=3, max_other_load=math.inf,
                            retries=1, patience=0.0, max_slowdown=0.5, speed=speed)  # never fast enough
    assert redone == 3 and all(m.slowdown >= 1.0 for m in cells["GEMM floor"])
    cells, redone = measure(case, {"GEMM floor": run_gemm_floor}, X, y, repeat=3, max_other_load=math.inf,
                            retries=1, patience=0.0, max_slowdown=math.inf, speed=speed)
    assert redone == 0 and len(cells["GEMM floor"]) == 3
