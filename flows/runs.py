"""The history of runs: one line per run of an output folder, newest first.

    python flows/runs.py [--output-dir DIR] [--data KEY]

The same as `mlpflow runs`. The table is ``<output-dir>/history/runs.parquet`` (`flows.store.run_history`);
``<output-dir>/index.html`` lists the same runs with links to their reports.
"""

from flows.cli import run_command

if __name__ == "__main__":
    run_command("runs")
