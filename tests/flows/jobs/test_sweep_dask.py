"""The sweep on Dask: a real LocalCluster of two worker processes on 127.0.0.1 trains the configurations
through prefect-dask and gives the same comparison table as the local threads with the same seeds; the
command line's --runner and --address, and their one-line errors."""

from __future__ import annotations

import socket
import sys

import pytest

from flows.cli import run_command
from flows.pipeline.params import PipelineParams
from flows.pipeline.runners import DASK_EXTRA, api_problem, normal_address, parse_address, runner_problem
from mlp.data import files
from tests.data_trees import clean_root

PROG = "python flows/sweep.py"
CONFIGS = ["default", "hidden-100"]
SETTINGS = ["--hidden", "16", "--epochs", "2", "--batch-size", "8", "--val-fraction", "0.2"]


def same_table(rows: list[dict]) -> list[dict]:
    """The comparison rows without their timings, which differ from run to run."""
    return [{k: v for k, v in r.items() if k != "seconds"} for r in rows]


@pytest.fixture(scope="module")
def data_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("sweep-dask") / "data"
    clean_root(root, per_class=10, classes=("1", "2", "10"))
    return root


@pytest.fixture
def patient_dask():
    """Dask's timeouts long enough for worker processes starting on a busy two-core machine."""
    dask = pytest.importorskip("dask", reason=f"the dask extra is not installed ({DASK_EXTRA})")
    pytest.importorskip("prefect_dask", reason=f"the dask extra is not installed ({DASK_EXTRA})")
    patient = {"distributed.comm.timeouts.connect": "120s", "distributed.comm.timeouts.tcp": "120s"}
    with dask.config.set(patient):
        yield


@pytest.mark.usefixtures("prefect_harness", "patient_dask")
def test_a_local_cluster_of_two_processes_gives_the_threads_table(tmp_path, data_root):
    from distributed import Client, LocalCluster

    from flows.jobs.sweep import run_sweep

    params = PipelineParams(data_dir=data_root, output_dir=tmp_path / "out", hidden=(16,), epochs=2,
                            batch_size=8, val_fraction=0.2)
    threads = run_sweep(params, CONFIGS)
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                      dashboard_address=None) as cluster, Client(cluster) as client:
        assert cluster.scheduler_address.startswith("tcp://127.0.0.1:")
        on_dask = run_sweep(params, CONFIGS, "dask", cluster.scheduler_address)
        # Each configuration ran as a task of the cluster, in one of its two worker processes.
        ran = client.run_on_scheduler(lambda dask_scheduler: {  # tasks that finished, by name
            k: v.state_counts["memory"] for k, v in dask_scheduler.task_prefixes.items()})
        workers = client.run(lambda: __import__("os").getpid())
    assert ran.get("run_configuration", 0) == len(CONFIGS), ran
    assert len(set(workers.values())) == 2 and sys.modules["os"].getpid() not in workers.values()
    assert on_dask.root != threads.root
    assert same_table(on_dask.rows) == same_table(threads.rows)
    assert {r["checkpoint"] for r in on_dask.rows} == {f"{c}/checkpoints/best.npz" for c in CONFIGS}
    for row in on_dask.rows:
        assert (on_dask.root / row["checkpoint"]).is_file()


@pytest.mark.usefixtures("prefect_harness", "patient_dask")
def test_the_command_line_runs_a_local_cluster_and_ingests_in_two_processes(tmp_path, data_root):
    result = run_command("sweep", ["--configs", ",".join(CONFIGS), "--runner", "dask", "--data-dir",
                                   str(data_root), "--output-dir", str(tmp_path / "out"), "--ingest-workers",
                                   "2", *SETTINGS])
    assert sorted(r["config"] for r in result.rows) == sorted(CONFIGS)
    assert files.read_dataset(result.root / "shared" / "dataset.parquet").X.shape == (30, 48)  # decoded by 2
    assert result.csv.read_text(encoding="utf-8").splitlines()[0].split(",")[:3] == [
        "config", "changes", "val_accuracy"]


def free_port() -> int:
    """A port of 127.0.0.1 nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.parametrize(("flags", "message"), [
    (["--address", "tcp://127.0.0.1:8786"], "--address: only with --runner dask"),
    (["--runner", "dask", "--address", "tcp://10.0.0.5"], None),  # checked below: parsed, port 8786
    (["--runner", "dask", "--address", "not an address"],
     "--address: 'not an address' is not a Dask scheduler address; give tcp://HOST:PORT, e.g. "
     "tcp://10.0.0.5:8786"),
    (["--runner", "dask", "--address", "tcp://127.0.0.1:99999"],
     "--address: 'tcp://127.0.0.1:99999' has port 99999, outside 1-65535"),
    (["--runner", "cluster"], "argument --runner: invalid choice: 'cluster' (choose from 'threads', 'dask')"),
])
def test_bad_runner_flags_end_in_one_line(flags, message, capsys, tmp_path):
    if message is None:
        assert parse_address("tcp://10.0.0.5") == ("tcp", "10.0.0.5", 8786)
        return
    with pytest.raises(SystemExit) as stop:
        run_command("sweep", ["--configs", "default", "--output-dir", str(tmp_path), *flags])
    assert stop.value.code == 2
    assert capsys.readouterr().err.strip().splitlines()[-1] == f"{PROG}: error: {message}"


def test_an_unreachable_scheduler_is_named_in_one_line(capsys, tmp_path):
    pytest.importorskip("prefect_dask", reason=f"the dask extra is not installed ({DASK_EXTRA})")
    address = f"tcp://127.0.0.1:{free_port()}"
    with pytest.raises(SystemExit) as stop:
        run_command("sweep", ["--configs", "default", "--output-dir", str(tmp_path), "--runner", "dask",
                              "--address", address])
    assert stop.value.code == 2
    line = capsys.readouterr().err.strip().splitlines()[-1]
    assert line.startswith(f"{PROG}: error: --address: no Dask scheduler answers at {address} (")
    assert line.endswith("or leave --address out for a local cluster")


def test_without_the_extra_the_dask_runner_names_the_install_command(monkeypatch):
    monkeypatch.setitem(sys.modules, "prefect_dask", None)  # Python's own way to make a package unimportable
    assert runner_problem("dask", None) == (
        "--runner dask needs prefect-dask, which is not installed: pip install -e '.[dask]'")
    assert runner_problem("threads", None) is None


def test_addresses_are_normalised_and_remote_workers_need_a_prefect_server():
    assert normal_address("10.0.0.5") == "tcp://10.0.0.5:8786"
    assert normal_address("tls://[::1]:9000") == "tls://[::1]:9000"
    assert api_problem("tcp://127.0.0.1:8786", None) is None  # workers here reach the temporary server
    assert api_problem("tcp://10.0.0.5:8786", "http://10.0.0.1:4200/api") is None
    assert api_problem("tcp://10.0.0.5:8786", None).startswith(
        "--address: the Dask workers on other machines report their task runs to Prefect's API, and "
        "PREFECT_API_URL is not set")
