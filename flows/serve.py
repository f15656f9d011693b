"""Scheduled retraining: serve the main pipeline as a Prefect deployment on a cron schedule.

Schedules run only on a real Prefect server (the temporary one a plain `python flows/full_pipeline.py` starts
does not run them). In one terminal start the server (its UI is at http://127.0.0.1:4200):

    prefect server start

In another, point Prefect at it and serve the deployment until Ctrl-C:

    export PREFECT_API_URL=http://127.0.0.1:4200/api
    python flows/serve.py                                   # nightly at 03:00 UTC: --cron "0 3 * * *"
    python flows/serve.py --cron "30 2 * * 1-5" --timezone Europe/Berlin --data-dir data/raw --epochs 40

Any pipeline flag after the serve options (see `python flows/full_pipeline.py --help`) becomes a default
parameter of the deployment. Trigger a run outside the schedule, optionally with other parameters:

    prefect deployment run 'full-pipeline/nightly-retraining' --watch
    prefect deployment run full-pipeline/nightly-retraining -p params='{"data_dir": "data/raw", "epochs": 5}'

The flow takes one `params` parameter (a `PipelineParams`): a run's `params` replaces the deployment's as a
whole, so give every setting that differs from the pipeline's defaults (the UI's run form starts from the
deployment's values).

Each run ingests incrementally (unchanged images are not decoded again), trains a challenger, scores it and
its data folder's champion (`artifacts/models/<key>/champion`) on the challenger's validation images that the
champion was not trained on, promotes the challenger only when it is better (`flows.champion`) and records
the decision in the `model-promotion` artifact. Stopping serve.py
does not pause the schedule (`pause_on_shutdown=False`): the server keeps scheduling runs, which start (late)
once the deployment is served again.
"""

from __future__ import annotations

import argparse
import typing
from collections.abc import Sequence
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import flows  # noqa: F401  (applies mlpflow's environment: first, before NumPy and Prefect load)

# isort: split
from prefect import Flow, serve
from prefect.deployments.runner import RunnerDeployment
from prefect.schedules import Cron, Schedule
from prefect.settings import PREFECT_API_URL

from flows.params import PipelineParams, parse_args

DEFAULT_CRON = "0 3 * * *"  # every night at 03:00
DEPLOYMENT_NAME = "nightly-retraining"
NO_SERVER = ("PREFECT_API_URL is not set, so Prefect would serve on a temporary server that never runs "
             "schedules; start a server (prefect server start) and point Prefect at it "
             "(export PREFECT_API_URL=http://127.0.0.1:4200/api), then run this again")
DESCRIPTION = ("Retrain on a schedule: ingest incrementally, train a challenger, promote it over the "
               "champion only when it scores better on validation images the champion was not trained on "
               "(artifact model-promotion).")


def cron_schedule(cron: str = DEFAULT_CRON, timezone: str | None = None) -> Schedule:
    """A cron schedule in `timezone` (an IANA name; None: UTC); a bad cron string or time zone raises
    ValueError naming it."""
    if timezone is not None:
        try:
            ZoneInfo(timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {timezone!r}; use an IANA name such as "
                             "'Europe/Berlin'") from None
    try:
        return Cron(cron, timezone=timezone)
    except ValueError:
        raise ValueError(f"invalid cron schedule {cron!r}; expected five fields, minute hour day month "
                         f"weekday, e.g. {DEFAULT_CRON!r}") from None


def build_deployment(cron: str = DEFAULT_CRON, parameters: dict[str, Any] | None = None, *,
                     name: str = DEPLOYMENT_NAME, timezone: str | None = None,
                     flow: Flow | None = None) -> RunnerDeployment:
    """The deployment of `flow` (default: the main pipeline, `flows.full_pipeline.full_pipeline`) on the
    schedule `cron_schedule(cron, timezone)` with default `parameters`. Nothing is sent to a server:
    `serve(deployment, ...)` or `deployment.apply()` does that."""
    schedule = cron_schedule(cron, timezone)
    if flow is None:
        from flows.full_pipeline import full_pipeline as flow  # late: the pipeline is heavy to import
    return flow.to_deployment(name=name, schedule=schedule, parameters=dict(parameters or {}),
                              description=DESCRIPTION, tags=["mlpflow", "retraining"])


def pipeline_parameters(flow: Flow, params: PipelineParams) -> dict[str, Any]:
    """The deployment parameters for the pipeline flags that were given (`params`' set fields, as JSON): under
    the flow's `PipelineParams` parameter when it takes one, else one keyword per field."""
    given = params.model_dump(mode="json", exclude_unset=True)
    hints = typing.get_type_hints(flow.fn)
    nested = [name for name, hint in hints.items() if hint is PipelineParams and name != "return"]
    return {nested[0]: given} if nested else given


def main(argv: Sequence[str] | None = None) -> None:
    """The command line: serve options, then any pipeline flags; serves until interrupted. Without a Prefect
    server to serve on (PREFECT_API_URL, from the environment or the active profile) it ends with a one-line
    error, exit status 2."""
    parser = argparse.ArgumentParser(prog="python flows/serve.py", description=__doc__, allow_abbrev=False,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cron", default=DEFAULT_CRON, help=f"schedule (default: {DEFAULT_CRON!r})")
    parser.add_argument("--timezone", default=None, metavar="TZ", help="IANA time zone (default: UTC)")
    parser.add_argument("--name", default=DEPLOYMENT_NAME,
                        help=f"deployment name (default: {DEPLOYMENT_NAME})")
    args, rest = parser.parse_known_args(argv)
    try:
        cron_schedule(args.cron, args.timezone)
    except ValueError as error:
        parser.error(str(error))
    params = parse_args(rest, prog="python flows/serve.py [serve options]")
    if not PREFECT_API_URL.value():
        parser.error(NO_SERVER)
    from flows.full_pipeline import full_pipeline

    deployment = build_deployment(args.cron, pipeline_parameters(full_pipeline, params), name=args.name,
                                  timezone=args.timezone, flow=full_pipeline)
    serve(deployment, pause_on_shutdown=False)


if __name__ == "__main__":
    main()
