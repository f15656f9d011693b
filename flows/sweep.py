"""Compare training configurations on one data set and one split.

    python flows/sweep.py [--configs one-change,seed-ladder,...] [pipeline flags]  (--help for more)

The same as `mlpflow sweep`. The flow is `flows.jobs.sweep`; the configurations, `flows.pipeline.variants`.
"""

from flows.cli import run_command

if __name__ == "__main__":
    run_command("sweep")
