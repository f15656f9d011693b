"""The command line: `mlpflow <command>` and the scripts run the same commands; help answers without loading
Prefect or NumPy's trainer; a bad command or flag ends with one line. (The commands' flows are tested end to
end in tests/flows/jobs/.)"""

from __future__ import annotations

import shutil
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest

from flows.cli import COMMANDS, SCRIPTS, main

REPO = Path(__file__).resolve().parents[2]
LOADED = """
import sys
from flows.cli import main
try:
    main({argv!r})
except SystemExit as stop:
    code = stop.code
roots = {{m.split('.')[0] for m in sys.modules}}
print(code, sorted(roots & {{'prefect', 'flows', 'matplotlib', 'sklearn'}}), 'mlp.train' in sys.modules)
"""


def run(args: list[str], **kw) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *args], cwd=REPO, capture_output=True, text=True, timeout=120,
                          **kw)


@pytest.mark.parametrize("command", list(COMMANDS))
def test_a_commands_help_loads_neither_prefect_nor_the_trainer(command):
    done = run(["-c", LOADED.format(argv=[command, "--help"])])
    code, *rest = done.stdout.strip().splitlines()[-1].split(" ", 1)
    assert done.returncode == 0, done.stderr
    assert code == "0" and rest == ["['flows'] False"], done.stdout  # exit 0; no prefect, no matplotlib
    assert f"usage: mlpflow {command}" in done.stdout


def test_the_top_level_help_lists_every_command_and_no_command_is_an_error():
    done = run(["-c", "from flows.cli import console; console()", "--help"])
    assert done.returncode == 0
    for command, (text, _) in COMMANDS.items():
        assert f"  {command}" in done.stdout and text in done.stdout
    assert run(["-c", "from flows.cli import console; console()"]).returncode == 2


def test_an_unknown_command_ends_with_one_line_naming_the_valid_ones(capsys):
    with pytest.raises(SystemExit) as stop:
        main(["train"])
    assert stop.value.code == 2
    [line] = [line for line in capsys.readouterr().err.splitlines() if "error:" in line]
    assert "invalid choice: 'train'" in line
    assert all(f"'{command}'" in line for command in COMMANDS)


@pytest.mark.parametrize("command", list(COMMANDS))
def test_each_script_runs_its_command(command):
    done = run([SCRIPTS[command], "--help"])
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"usage: python {SCRIPTS[command]}")


def test_a_bad_flag_through_mlpflow_names_the_command(capsys):
    with pytest.raises(SystemExit) as stop:
        main(["run", "--epochs", "0"])
    assert stop.value.code == 2
    assert capsys.readouterr().err.strip().splitlines()[-1] == (
        "mlpflow run: error: --epochs: must be an integer >= 1 (got 0)")


def test_the_installed_console_script_runs_the_commands():
    [script] = [e for e in metadata.entry_points(group="console_scripts") if e.name == "mlpflow"] or [None]
    executable = shutil.which("mlpflow")
    if script is None or executable is None:
        pytest.skip("mlpflow is not installed here (pip install -e .): its console script is absent")
    assert script.value == "flows.cli:console"
    done = subprocess.run([executable, "sine", "--iterations", "0"], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines()[-1] == (
        "mlpflow sine: error: argument --iterations: input should be greater than or equal to 1 (got 0)")


def test_without_scikit_learn_the_demo_run_ends_with_one_line_saying_what_to_do(tmp_path):
    # sys.modules["sklearn"] = None makes `import sklearn` fail as if it were not installed.
    code = ("import sys, pathlib; sys.modules['sklearn'] = None\n"
            "from flows.store import layout\n"
            f"layout.RAW_DIR = pathlib.Path({str(tmp_path / 'raw')!r})\n"
            "from flows.cli import main\n"
            f"main(['run', '--output-dir', {str(tmp_path / 'out')!r}])")
    done = run(["-c", code])
    assert done.returncode == 2 and not (tmp_path / "out").exists()
    assert done.stderr.strip().splitlines() == [
        "mlpflow run: error: the built-in digits demo needs scikit-learn: pip install 'mlpflow[demo]' (or "
        "'.[demo]' in a checkout); or train on your own images with --data-dir DIR"]


def _raising(error: Exception):
    def command(argv, prog):
        raise error
    return command


def test_an_expected_failure_ends_with_one_line_and_a_bug_keeps_its_traceback(monkeypatch, capsys):
    monkeypatch.delenv("MLPFLOW_DEBUG", raising=False)
    monkeypatch.setitem(COMMANDS, "run", ("", _raising(FileNotFoundError("model m.npz does not exist"))))
    with pytest.raises(SystemExit) as stop:
        main(["run"])
    assert stop.value.code == 1
    assert capsys.readouterr().err.splitlines() == [
        "mlpflow run: error: model m.npz does not exist (--debug shows the traceback)"]
    with pytest.raises(FileNotFoundError):  # --debug: raised, traceback and all
        main(["run", "--debug"])
    monkeypatch.setitem(COMMANDS, "run", ("", _raising(KeyError("a bug"))))
    with pytest.raises(KeyError):
        main(["run"])
