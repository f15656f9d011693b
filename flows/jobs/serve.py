"""Scheduled retraining: the main job served as a Prefect deployment on a cron schedule (`mlpflow serve`,
``python flows/serve.py``; ``--help`` there says how to start a server and trigger runs).

Each run ingests incrementally (unchanged images are not decoded again), trains a challenger, scores it and
its data folder's champion (`artifacts/models/<key>/champion`) on the challenger's validation images that the
champion was not trained on, promotes the challenger only when it is better (`flows.store.champion`) and
records the decision in the `model-promotion` artifact. The flow takes one `params` parameter (a
`PipelineParams`): a run's `params` replaces the deployment's as a whole. Prefect is imported only by the
functions that use it, so that the command line can read this module's defaults at once.
"""

from __future__ import annotations

import re
import typing
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from flows.pipeline.params import PipelineParams

if TYPE_CHECKING:
    from prefect import Flow
    from prefect.deployments.runner import RunnerDeployment
    from prefect.schedules import Schedule

DEFAULT_CRON = "0 3 * * *"  # every night at 03:00
DAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")  # cron's day-of-week numbers 0-6
NO_SERVER = ("PREFECT_API_URL is not set, so Prefect would serve on a temporary server that never runs "
             "schedules; start a server (prefect server start) and point Prefect at it "
             "(export PREFECT_API_URL=http://127.0.0.1:4200/api), then run this again")
DESCRIPTION = ("Retrain on a schedule: ingest incrementally, train a challenger, promote it over the "
               "champion only when it scores better on validation images the champion was not trained on "
               "(artifact model-promotion).")


def cron_schedule(cron: str = DEFAULT_CRON, timezone: str | None = None) -> Schedule:
    """A cron schedule in `timezone` (an IANA name; None: UTC); a bad cron string or time zone raises
    ValueError naming it."""
    from prefect.schedules import Cron

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


def deployment_name(cron: str) -> str:
    """The deployment's name, saying when it runs: ``daily-0300`` for "0 3 * * *", ``weekdays-0230`` for
    "30 2 * * 1-5", ``weekly-mon-0600``, ``hourly-at-15``; another schedule is named after its fields,
    ``retraining-0-3-1-x-x`` for "0 3 1 * *" (x for *)."""
    fields = cron.split()
    if len(fields) == 5:
        minute, hour, day, month, weekday = fields
        if minute.isdigit() and hour.isdigit() and day == month == "*":
            at = f"{int(hour):02d}{int(minute):02d}"
            if weekday in ("*", "0-6", "1-7"):
                return f"daily-{at}"
            if weekday in ("1-5", "mon-fri"):
                return f"weekdays-{at}"
            if weekday.isdigit() and int(weekday) <= 7:
                return f"weekly-{DAYS[int(weekday) % 7]}-{at}"
        if minute.isdigit() and hour == day == month == weekday == "*":
            return f"hourly-at-{int(minute):02d}"
    return "retraining-" + "-".join(re.sub(r"[^0-9a-z]+", "-", f.lower().replace("*", "x")).strip("-")
                                    for f in fields)


def build_deployment(cron: str = DEFAULT_CRON, parameters: dict[str, Any] | None = None, *,
                     name: str | None = None, timezone: str | None = None,
                     flow: Flow | None = None) -> RunnerDeployment:
    """The deployment of `flow` (default: the main job, `flows.jobs.full_pipeline.full_pipeline`) on the
    schedule `cron_schedule(cron, timezone)` with default `parameters`, named `name` (default:
    `deployment_name(cron)`). Nothing is sent to a server: `serve(deployment, ...)` or `deployment.apply()`
    does that."""
    schedule = cron_schedule(cron, timezone)
    name = deployment_name(cron) if name is None else name
    if flow is None:
        from flows.jobs.full_pipeline import full_pipeline as flow
    return flow.to_deployment(name=name, schedule=schedule, parameters=dict(parameters or {}),
                              description=DESCRIPTION, tags=["mlpflow", "retraining"])


def pipeline_parameters(flow: Flow, params: PipelineParams) -> dict[str, Any]:
    """The deployment parameters for the pipeline flags that were given (`params`' set fields, as JSON): under
    the flow's `PipelineParams` parameter when it takes one, else one keyword per field."""
    given = params.model_dump(mode="json", exclude_unset=True)
    hints = typing.get_type_hints(flow.fn)
    nested = [name for name, hint in hints.items() if hint is PipelineParams and name != "return"]
    return {nested[0]: given} if nested else given


def server_configured() -> bool:
    """Whether Prefect points at a server (PREFECT_API_URL, from the environment or the active profile)."""
    from prefect.settings import PREFECT_API_URL

    return bool(PREFECT_API_URL.value())


def serve_pipeline(params: PipelineParams, *, cron: str = DEFAULT_CRON, timezone: str | None = None,
                   name: str | None = None) -> None:
    """Serve the main job on `cron` with the given pipeline flags (`params`' set fields) as the
    deployment's defaults, until interrupted; `name` defaults to `deployment_name(cron)`."""
    from flows.jobs.full_pipeline import full_pipeline

    deployment = build_deployment(cron, pipeline_parameters(full_pipeline, params), name=name,
                                  timezone=timezone, flow=full_pipeline)
    serve(deployment, pause_on_shutdown=False)


def serve(*deployments: RunnerDeployment, **options: Any) -> None:
    """Prefect's `serve`, imported when first called: serve the deployments until interrupted."""
    from prefect import serve as prefect_serve

    prefect_serve(*deployments, **options)
