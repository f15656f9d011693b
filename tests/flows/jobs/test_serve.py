"""Scheduled retraining: the deployment carries the schedule and default parameters, and a Prefect server
accepts it; nothing here serves forever."""

from __future__ import annotations

from pathlib import Path

import pytest
from prefect import flow
from prefect.client.orchestration import get_client
from prefect.settings import PREFECT_API_URL, temporary_settings

from flows.cli import run_command
from flows.jobs.serve import (
    DEFAULT_CRON,
    build_deployment,
    cron_schedule,
    deployment_name,
    pipeline_parameters,
)
from flows.pipeline.params import PipelineParams, parse_args


@flow(name="stand-in-pipeline")
def stand_in(data_dir: Path | None = None, hidden: tuple[int, ...] = (500,), epochs: int = 30) -> None:
    """A small flow with a few of the pipeline's parameters, as keywords."""


@flow(name="stand-in-nested")
def stand_in_nested(params: PipelineParams = PipelineParams()) -> None:  # noqa: B008  (frozen: safe)
    """A flow that takes the pipeline's parameters as one model."""


def test_the_default_deployment_is_nightly_with_the_flows_own_defaults():
    deployment = build_deployment(flow=stand_in)
    assert deployment.name == "daily-0300" and deployment.flow_name == "stand-in-pipeline"
    [schedule] = deployment.schedules
    assert schedule.schedule.cron == DEFAULT_CRON == "0 3 * * *" and schedule.schedule.timezone is None
    assert schedule.active and deployment.parameters == {}


def test_cron_time_zone_and_parameters_are_configurable():
    deployment = build_deployment("30 2 * * 1-5", {"epochs": 5}, name="weekdays", timezone="Europe/Berlin",
                                  flow=stand_in)
    [schedule] = deployment.schedules
    assert (schedule.schedule.cron, schedule.schedule.timezone) == ("30 2 * * 1-5", "Europe/Berlin")
    assert deployment.name == "weekdays" and deployment.parameters == {"epochs": 5}


@pytest.mark.parametrize(("cron", "name"), [
    ("0 3 * * *", "daily-0300"),
    ("30 2 * * 1-5", "weekdays-0230"),
    ("0 6 * * 1", "weekly-mon-0600"),
    ("0 0 * * 0", "weekly-sun-0000"),
    ("15 * * * *", "hourly-at-15"),
    ("*/15 * * * *", "retraining-x-15-x-x-x-x"),
    ("0 3 1 * *", "retraining-0-3-1-x-x"),
])
def test_the_deployment_is_named_after_its_schedule(cron, name):
    """Not "nightly-retraining" whatever the cron: the name says when it runs."""
    assert deployment_name(cron) == name
    assert build_deployment(cron, flow=stand_in).name == name


def test_a_bad_cron_or_time_zone_is_named():
    with pytest.raises(ValueError, match=r"invalid cron schedule '61 3 \* \* \*'; expected five fields"):
        cron_schedule("61 3 * * *")
    with pytest.raises(ValueError, match="unknown time zone 'Mars/Olympus'"):
        cron_schedule(DEFAULT_CRON, "Mars/Olympus")


def test_pipeline_flags_become_parameters_flat_or_nested():
    params = parse_args(["--epochs", "40", "--hidden", "512,256", "--augment", "none"])
    flat = {"epochs": 40, "hidden": [512, 256], "augment": "none"}
    assert pipeline_parameters(stand_in, params) == flat  # only the flags given: the flow's defaults stay
    assert pipeline_parameters(stand_in_nested, params) == {"params": flat}
    assert stand_in_nested.validate_parameters({"params": flat})["params"].hidden == (512, 256)


@pytest.mark.parametrize(("args", "message"), [
    (["--cron", "every night"], "invalid cron schedule 'every night'"),
    (["--timezone", "Nowhere/Town"], "unknown time zone 'Nowhere/Town'"),
])
def test_bad_serve_options_end_the_command_with_one_line(args, message, capsys):
    with pytest.raises(SystemExit) as stop:
        run_command("serve", args)
    assert stop.value.code == 2
    errors = [line for line in capsys.readouterr().err.splitlines() if "error:" in line]
    assert len(errors) == 1 and message in errors[0]


@pytest.fixture
def served(monkeypatch) -> list:
    """What `mlpflow serve` hands to `serve`, recorded instead of served: [(deployments, keywords)]."""
    calls = []
    monkeypatch.setattr("flows.jobs.serve.serve", lambda *deployments, **kw: calls.append((deployments, kw)))
    return calls


def test_the_command_serves_the_pipeline_on_its_schedule_without_pausing_it(served):
    with temporary_settings(updates={PREFECT_API_URL: "http://127.0.0.1:4200/api"}):
        run_command("serve", ["--cron", "30 2 * * 1-5", "--timezone", "Europe/Berlin", "--epochs", "40",
                              "--augment", "none"])
    [(deployments, kwargs)] = served
    [deployment] = deployments
    assert kwargs == {"pause_on_shutdown": False}
    assert (deployment.name, deployment.flow_name) == ("weekdays-0230", "full-pipeline")
    [schedule] = deployment.schedules
    assert (schedule.schedule.cron, schedule.schedule.timezone) == ("30 2 * * 1-5", "Europe/Berlin")
    assert deployment.parameters == {"params": {"epochs": 40, "augment": "none"}}

    served.clear()
    with temporary_settings(updates={PREFECT_API_URL: "http://127.0.0.1:4200/api"}):
        run_command("serve", [])
    [([deployment], kwargs)] = served
    assert deployment.schedules[0].schedule.cron == DEFAULT_CRON and deployment.parameters == {"params": {}}
    assert kwargs == {"pause_on_shutdown": False} and deployment.name == "daily-0300"

    served.clear()
    with temporary_settings(updates={PREFECT_API_URL: "http://127.0.0.1:4200/api"}):
        run_command("serve", ["--cron", "0 1 * * *", "--name", "my-retraining"])
    [([deployment], _)] = served
    assert deployment.name == "my-retraining"


def test_without_a_server_the_command_stops_with_one_line_saying_how_to_start_one(served, capsys):
    with temporary_settings(restore_defaults={PREFECT_API_URL}), pytest.raises(SystemExit) as stop:
        run_command("serve", ["--epochs", "5"])
    assert stop.value.code == 2 and served == []
    errors = [line for line in capsys.readouterr().err.splitlines() if "error:" in line]
    assert len(errors) == 1
    for words in ("PREFECT_API_URL is not set", "prefect server start",
                  "export PREFECT_API_URL=http://127.0.0.1:4200/api"):
        assert words in errors[0]


@pytest.mark.usefixtures("prefect_harness")
def test_the_server_accepts_the_deployment_with_its_schedule_and_parameters():
    deployment = build_deployment("15 4 * * *", {"epochs": 7}, name="retraining-test", flow=stand_in)
    deployment_id = deployment.apply()
    with get_client(sync_client=True) as client:
        stored = client.read_deployment(deployment_id)
    assert stored.name == "retraining-test" and stored.parameters == {"epochs": 7}
    assert [s.schedule.cron for s in stored.schedules] == ["15 4 * * *"]
    assert "promote" in stored.description and stored.parameter_openapi_schema["properties"]["epochs"]


def test_the_real_pipeline_is_the_default_flow_and_accepts_the_flags():
    from flows.jobs.full_pipeline import full_pipeline

    parameters = pipeline_parameters(full_pipeline, parse_args(["--epochs", "3", "--hidden", "64"]))
    deployment = build_deployment(parameters=parameters)
    assert deployment.flow_name == full_pipeline.name
    assert deployment.schedules[0].schedule.cron == DEFAULT_CRON
    full_pipeline.validate_parameters(deployment.parameters)  # raises when the names do not fit the flow
