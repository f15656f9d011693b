"""Where a sweep's configurations run: Prefect's local threads, or Dask workers through `prefect-dask`, on a
cluster of your own (its scheduler's address) or on a `distributed.LocalCluster` started for the flow.

The checks (`runner_problem`) use the standard library only, so the command line says what is wrong (the
extra is missing, the scheduler does not answer) in one line before Prefect loads. Dask workers import
`flows` and `mlp` themselves and read and write the run's files by their absolute paths: on a cluster of
several machines, install mlpflow on every worker and put the data and the output folder on a file system
they all mount at the same path.
"""

from __future__ import annotations

import importlib.util
import os
import re
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

# --runner: name -> what it is, for --help
RUNNERS = {
    "threads": "Prefect's ThreadPoolTaskRunner in this process",
    "dask": "prefect-dask's DaskTaskRunner: the cluster at --address, else a LocalCluster of worker "
            "processes",
}
DASK_EXTRA = "pip install -e '.[dask]'"  # what installs prefect-dask and distributed
DASK_PORT = 8786  # a Dask scheduler's default port, when the address names none
CONNECT_SECONDS = 5.0  # how long the check waits for the scheduler to accept a connection
_ADDRESS = re.compile(r"^(?:(?P<scheme>[a-z]+)://)?(?P<host>\[[0-9a-fA-F:.]+\]|[^:/\s\[\]]+)(?::(?P<port>\d+))?$")


def parse_address(address: str) -> tuple[str, str, int]:
    """(scheme, host, port) of a Dask scheduler address, ``tcp://HOST:PORT``, ``HOST:PORT`` or ``HOST``
    (scheme tcp and port 8786 by default); ValueError naming the address otherwise."""
    found = _ADDRESS.match(address.strip())
    scheme = (found and found["scheme"]) or "tcp"
    if found is None or scheme not in ("tcp", "tls"):
        raise ValueError(f"{address!r} is not a Dask scheduler address; give tcp://HOST:PORT, e.g. "
                         "tcp://10.0.0.5:8786")
    port = int(found["port"] or DASK_PORT)
    if not 0 < port < 65536:
        raise ValueError(f"{address!r} has port {port}, outside 1-65535")
    return scheme, found["host"].strip("[]"), port


def normal_address(address: str) -> str:
    """`address` as distributed takes it: ``scheme://host:port`` (``tcp://10.0.0.5`` -> ``...:8786``)."""
    scheme, host, port = parse_address(address)
    return f"{scheme}://{f'[{host}]' if ':' in host else host}:{port}"


def is_local(address: str) -> bool:
    """Whether the scheduler at `address` runs on this machine (a loopback host)."""
    host = parse_address(address)[1]
    return host in ("localhost", "::1") or host.startswith("127.")


def api_problem(address: str | None, api_url: str | None) -> str | None:
    """Why workers of the cluster at `address` could not report to Prefect, or None: workers on other
    machines need a Prefect server they can reach (`api_url`, PREFECT_API_URL); the temporary server a flow
    starts listens on 127.0.0.1 only."""
    if address is None or api_url or is_local(address):
        return None
    return ("--address: the Dask workers on other machines report their task runs to Prefect's API, and "
            "PREFECT_API_URL is not set: start a server they can reach (prefect server start --host 0.0.0.0) "
            "and export PREFECT_API_URL=http://THIS-HOST:4200/api")


def missing_extra() -> str | None:
    """The Dask packages that are not installed, named in one line with the command that installs them;
    None when both are."""
    missing = [name for name in ("prefect_dask", "distributed") if importlib.util.find_spec(name) is None]
    if not missing:
        return None
    names, verb = " and ".join(m.replace("_", "-") for m in missing), "is" if len(missing) == 1 else "are"
    return f"--runner dask needs {names}, which {verb} not installed: {DASK_EXTRA}"


def unreachable(address: str, seconds: float = CONNECT_SECONDS) -> str | None:
    """Why no Dask scheduler can be reached at `address` (malformed, unknown host, nothing listening), in
    one line, or None when it accepts a TCP connection."""
    try:
        _, host, port = parse_address(address)
    except ValueError as error:
        return f"--address: {error}"
    try:
        with socket.create_connection((host, port), timeout=seconds):
            return None
    except OSError as error:
        reason = getattr(error, "strerror", None) or str(error) or type(error).__name__
        return (f"--address: no Dask scheduler answers at {address} ({reason}); start one (dask scheduler, "
                "then dask worker on each machine) or leave --address out for a local cluster")


def runner_problem(runner: str, address: str | None) -> str | None:
    """The first reason `runner` at `address` cannot run, in one line, or None."""
    if runner not in RUNNERS:
        return f"--runner: must be one of {', '.join(RUNNERS)} (got {runner})"
    if runner != "dask":
        return "--address: only with --runner dask" if address is not None else None
    return missing_extra() or (unreachable(address) if address is not None else None)


def local_cluster_kwargs(workers: int) -> dict[str, Any]:
    """A LocalCluster on this machine: `workers` processes of one thread each, listening on 127.0.0.1 only,
    no dashboard; their BLAS to one thread (each trains beside the others)."""
    return {"n_workers": workers, "threads_per_worker": 1, "processes": True, "host": "127.0.0.1",
            "dashboard_address": None, "env": {"OPENBLAS_NUM_THREADS": os.environ.get(
                "OPENBLAS_NUM_THREADS", "1")}}


def task_runner(runner: str, address: str | None, workers: int) -> Any:
    """Prefect's task runner for `runner` (one of RUNNERS): `workers` threads; or a DaskTaskRunner on the
    scheduler at `address`, else on a LocalCluster of `workers` processes. ValueError for a problem
    `runner_problem` names."""
    problem = runner_problem(runner, address)
    if problem:
        raise ValueError(problem)
    if runner == "threads":
        from prefect.task_runners import ThreadPoolTaskRunner

        return ThreadPoolTaskRunner(max_workers=workers)
    from prefect_dask import DaskTaskRunner

    if address is not None:
        return DaskTaskRunner(address=normal_address(address))
    return DaskTaskRunner(cluster_class="distributed.LocalCluster",
                          cluster_kwargs=local_cluster_kwargs(workers))


@contextmanager
def api_for_workers(runner: str) -> Iterator[None]:
    """Run the block so that Dask workers report their task runs to this process's Prefect API. With
    PREFECT_API_URL set (a Prefect server, or the test harness), the workers get it with the flow's
    settings. Without, Prefect would start a temporary server in every worker process; this starts the one
    the flow would start, here, and sets its URL for the block. (Workers on other machines cannot reach a
    temporary server on 127.0.0.1: run a Prefect server and set PREFECT_API_URL, see the README.)"""
    from prefect.settings import PREFECT_API_URL, temporary_settings

    if runner != "dask" or PREFECT_API_URL.value():
        yield
        return
    from prefect.server.api.server import SubprocessASGIServer

    server = SubprocessASGIServer()  # one per process: the flow's client finds this one running
    server.start()
    with temporary_settings(updates={PREFECT_API_URL: server.api_url}):
        yield
