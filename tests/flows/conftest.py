"""Flow tests run Prefect for real: one session-scoped test harness with a temporary PREFECT_HOME.

A test module that runs flows opts in with `pytestmark = pytest.mark.usefixtures("prefect_harness")`; pure
tests of the flows' helpers do not pay the harness's start-up.
"""

from __future__ import annotations

import os

import pytest

from flows import environment

environment.apply()  # mlpflow's Prefect settings, before prefect is imported


@pytest.fixture(scope="session")
def prefect_harness(tmp_path_factory):
    """A temporary Prefect server and database shared by every flow test in the session."""
    home = tmp_path_factory.mktemp("prefect-home")
    previous = os.environ.get("PREFECT_HOME")
    os.environ["PREFECT_HOME"] = str(home)
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield
    if previous is None:
        os.environ.pop("PREFECT_HOME", None)
    else:
        os.environ["PREFECT_HOME"] = previous


@pytest.fixture
def prefect_api_env(prefect_harness) -> dict[str, str]:
    """The environment of a subprocess that runs flows on the harness's server: no server of its own to start
    (about 1 s of Prefect start-up instead of 10-25 s), and its runs readable through the harness's API."""
    from prefect.settings import PREFECT_API_URL

    return {**os.environ, "PREFECT_API_URL": PREFECT_API_URL.value()}
