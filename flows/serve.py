"""Scheduled retraining: serve the main job as a Prefect deployment on a cron schedule.

    python flows/serve.py [--cron "0 3 * * *"] [--timezone TZ] [pipeline flags]  (--help for more)

The same as `mlpflow serve`. The deployment is built in `flows.jobs.serve`; its command line, `flows.cli`.
"""

from flows.cli import run_command

if __name__ == "__main__":
    run_command("serve")
