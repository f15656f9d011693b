"""Clear errors end a command with one line; the traceback stays in Prefect's log (and on the console with
--debug); bugs keep their traceback. The checks before work (the output folder, `latest`, the class folders,
free disk space) end a run before Prefect starts. The commands run for real, as subprocesses: two of them
start Prefect (an error inside the flow), the others end before it."""

from __future__ import annotations

import errno
import io
import logging
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from flows import environment, errors
from mlp.data.quality import DatasetError
from tests.bad_checkpoints import bad_checkpoints
from tests.data_trees import glyph, save_1bit

REPO = Path(__file__).resolve().parents[2]
PIPELINE, PREDICT = "flows/full_pipeline.py", "flows/predict.py"


def command(args: list[str], home: Path) -> subprocess.CompletedProcess:
    """Run `python <script> args` from the repository's root with its own PREFECT_HOME."""
    env = {**os.environ, "PREFECT_HOME": str(home), "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}
    env.pop(errors.DEBUG_ENV, None)
    return subprocess.run([sys.executable, *args], cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=300)


def one_error_line(done: subprocess.CompletedProcess, status: int) -> str:
    """The only line of stderr that is not Prefect's log, after checking the exit status and that no
    traceback was printed."""
    output = done.stdout + done.stderr
    assert done.returncode == status, output
    assert "Traceback" not in output, output
    [line] = [line for line in done.stderr.splitlines() if " | " not in line and not line.startswith("See ")]
    return line


def classes(root: Path, counts: dict[str, int]) -> Path:
    """A data root with train/<class>/ holding `counts[class]` 6x8 BMPs (an empty folder for 0)."""
    seed = 0
    for name, n in counts.items():
        (root / "train" / name).mkdir(parents=True, exist_ok=True)
        for i in range(n):
            seed += 1
            save_1bit(root / "train" / name / f"{i}.bmp", glyph(seed))
    return root


# ----------------------------------------------------------------------------- which errors are expected

@pytest.mark.parametrize("error", [
    DatasetError.__new__(DatasetError), ValueError("bad"), FileNotFoundError("gone"), NotADirectoryError("x"),
    FileExistsError("x"), PermissionError("x"), IsADirectoryError("x"),
    OSError(errno.ENOSPC, "No space left on device"), OSError(errno.EROFS, "Read-only file system")])
def test_clear_errors_are_expected(error):
    assert errors.expected(error)


@pytest.mark.parametrize("error", [TypeError("x"), KeyError("x"), AssertionError(), AttributeError("x"),
                                   OSError(errno.EIO, "Input/output error"), ZeroDivisionError()])
def test_bugs_are_not(error):
    assert not errors.expected(error)


def test_the_line_names_the_cause_the_remedy_and_debug_on_one_line():
    line = errors.one_line("prog", OSError(errno.ENOSPC, "No space left on device"))
    assert line.startswith("prog: error: [Errno 28] No space left on device; free some disk space")
    assert line.endswith("(--debug shows the traceback)")
    assert "\n" not in errors.one_line("prog", ValueError("two\nlines"))


def test_debug_is_taken_out_of_the_arguments(monkeypatch):
    monkeypatch.delenv(errors.DEBUG_ENV, raising=False)
    argv = ["--epochs", "3", "--debug"]
    assert errors.take_debug(argv) and argv == ["--epochs", "3"]
    assert not errors.take_debug(argv)
    monkeypatch.setenv(errors.DEBUG_ENV, "1")
    assert errors.take_debug([])


def test_the_console_leaves_out_an_expected_failures_traceback_and_other_handlers_keep_it():
    logger = logging.getLogger("test_errors.console")
    console, api = io.StringIO(), io.StringIO()
    quiet, full = logging.StreamHandler(console), logging.StreamHandler(api)
    quiet.setFormatter(errors.ShortTracebackFormatter(logging.Formatter("%(message)s")))
    logger.addHandler(full)  # the logger's own handler first, as Prefect's API handler comes first
    logger.addHandler(quiet)
    logger.propagate = False
    try:
        for error in (ValueError("empty class folder"), KeyError("bug")):
            try:
                raise error
            except Exception:
                logger.error("failed: %r", error, exc_info=True)
    finally:
        logger.handlers.clear()
    assert console.getvalue().count("Traceback") == 1  # the KeyError's only
    assert console.getvalue().startswith("failed: ValueError('empty class folder')\nfailed: KeyError")
    assert api.getvalue().count("Traceback") == 2


# ----------------------------------------------------------------------------- checks before work

def test_preflight_checks_the_output_folder_latest_and_the_classes(tmp_path):
    data = classes(tmp_path / "data", {"a": 2, "b": 2})
    (tmp_path / "file").write_text("x")
    assert "is a file" in environment.output_problem(tmp_path / "file")
    assert environment.output_problem(tmp_path / "new" / "out") is None  # created
    assert (tmp_path / "new" / "out").is_dir()
    (tmp_path / "new" / "out" / "latest").symlink_to(tmp_path / "nowhere")
    assert environment.output_problem(tmp_path / "new" / "out") is None  # a symlink, even a broken one
    (tmp_path / "out" / "latest").mkdir(parents=True)
    assert "latest is a folder, not the symlink" in environment.output_problem(tmp_path / "out")
    assert environment.data_problem(data) is None
    one_class = classes(tmp_path / "one", {"a": 1})
    assert "has only 'a' of the class folders" in environment.data_problem(one_class)
    assert environment.data_problem(tmp_path / "no-train") is None  # ingest says what is missing
    assert environment.preflight(tmp_path / "ok", data, (8,), 1) is None


def test_the_size_estimate_counts_images_and_parameters(tmp_path):
    data = classes(tmp_path / "data", {"a": 3, "b": 2})  # 5 images of 6x8 = 48 pixels, 2 classes
    parameters = (48 * 10 + 10) + (10 * 2 + 2)
    assert environment.estimated_bytes(data, (10,), 2) == (
        5 * 48 * environment.BYTES_PER_PIXEL + 2 * parameters * environment.BYTES_PER_PARAMETER
        + environment.RUN_MARGIN)
    problem = environment.disk_problem(tmp_path, 2**62)
    assert "MB free, and the run needs about" in problem and "free some disk space" in problem
    assert environment.disk_problem(tmp_path, 1) is None


# ----------------------------------------------------------------------------- the commands, before Prefect

def test_an_output_dir_that_is_a_file_ends_the_run_in_one_line(tmp_path):
    data = classes(tmp_path / "data", {"a": 1, "b": 1})
    (tmp_path / "out").write_text("not a folder")
    line = one_error_line(command([PIPELINE, "--data-dir", str(data), "--output-dir", str(tmp_path / "out")],
                                  tmp_path / "home"), 2)
    assert line == (f"python {PIPELINE}: error: --output-dir: {tmp_path / 'out'} is a file, not a folder; "
                    "give a folder (it is created if missing)")
    assert not (tmp_path / "home").exists()  # Prefect never started


def test_a_sine_fit_into_a_file_ends_in_one_line_before_prefect_starts(tmp_path):
    (tmp_path / "taken").write_text("a file")
    line = one_error_line(command(["flows/sine_fit.py", "--iterations", "1", "--output-dir",
                                   str(tmp_path / "taken")], tmp_path / "home"), 2)
    assert line == (f"python flows/sine_fit.py: error: --output-dir: {tmp_path / 'taken'} is a file, not a "
                    "folder; give a folder (it is created if missing)")
    assert not (tmp_path / "home").exists()  # Prefect never started


def test_latest_that_is_a_real_folder_ends_the_run_in_one_line(tmp_path):
    data = classes(tmp_path / "data", {"a": 1, "b": 1})
    (tmp_path / "out" / "latest").mkdir(parents=True)
    line = one_error_line(command([PIPELINE, "--data-dir", str(data), "--output-dir", str(tmp_path / "out")],
                                  tmp_path / "home"), 2)
    assert f"{tmp_path / 'out' / 'latest'} is a folder, not the symlink" in line and "move it away" in line


def test_a_single_class_ends_the_run_in_one_line(tmp_path):
    data = classes(tmp_path / "data", {"only": 2})
    line = one_error_line(command([PIPELINE, "--data-dir", str(data), "--output-dir", str(tmp_path / "out")],
                                  tmp_path / "home"), 2)
    assert "has only 'only' of the class folders a classifier needs (at least two" in line


def test_predict_with_a_text_file_as_the_model_ends_in_one_line(tmp_path):
    images = classes(tmp_path / "images", {"a": 1})
    (tmp_path / "model.npz").write_text("not a checkpoint")
    line = one_error_line(command([PREDICT, "--model", str(tmp_path / "model.npz"), "--images", str(images)],
                                  tmp_path / "home"), 2)
    assert line.startswith(f"python {PREDICT}: error: --model: {tmp_path / 'model.npz'} is not")


def test_predict_with_every_kind_of_bad_checkpoint_ends_in_one_line_naming_it(tmp_path):
    images = classes(tmp_path / "images", {"a": 1})
    for path, words in bad_checkpoints(tmp_path):
        line = one_error_line(command([PREDICT, "--model", str(path), "--images", str(images)],
                                      tmp_path / "home"), 2)
        assert line.startswith(f"python {PREDICT}: error: --model: {path} ") and words in line, line
        assert "allow_pickle" not in line


def test_predict_on_an_empty_folder_ends_in_one_line(tmp_path):
    (tmp_path / "model.npz").write_text("checked after the images")
    (tmp_path / "empty" / "sub").mkdir(parents=True)
    line = one_error_line(command([PREDICT, "--model", str(tmp_path / "model.npz"), "--images",
                                   str(tmp_path / "empty")], tmp_path / "home"), 2)
    assert line.startswith(f"python {PREDICT}: error: --images: no .bmp image in {tmp_path / 'empty'}")


def test_predict_on_a_text_file_ends_in_one_line(tmp_path):
    (tmp_path / "model.npz").write_text("checked after the images")
    (tmp_path / "notes.txt").write_text("not an image")
    line = one_error_line(command([PREDICT, "--model", str(tmp_path / "model.npz"), "--images",
                                   str(tmp_path / "notes.txt")], tmp_path / "home"), 2)
    assert line.startswith(f"python {PREDICT}: error: --images: {tmp_path / 'notes.txt'} is not a readable")


# ----------------------------------------------------------------------------- inside the flow (Prefect runs)

def test_an_empty_class_folder_fails_the_flow_in_one_line_and_prefects_log_keeps_the_traceback(tmp_path):
    data = classes(tmp_path / "data", {"a": 2, "b": 0})
    done = command([PIPELINE, "--data-dir", str(data), "--output-dir", str(tmp_path / "out"),
                    "--epochs", "1"], tmp_path / "home")
    line = one_error_line(done, 1)
    assert line == (f"python {PIPELINE}: error: empty class folder 'train/b' under {data}: no image file in "
                    "it; fix or remove what it names, then run again (--debug shows the traceback)")
    with sqlite3.connect(tmp_path / "home" / "prefect.db") as db:
        logged = [message for (message,) in db.execute("SELECT message FROM log WHERE level >= 40")]
    assert any("DatasetError" in m and "Traceback (most recent call last)" in m for m in logged), logged


def test_debug_shows_the_traceback(tmp_path):
    data = classes(tmp_path / "data", {"a": 2, "b": 0})
    done = command([PIPELINE, "--data-dir", str(data), "--output-dir", str(tmp_path / "out"), "--epochs", "1",
                    "--debug"], tmp_path / "home")
    assert done.returncode == 1
    assert done.stderr.count("Traceback (most recent call last)") >= 2  # Prefect's log and the command's
    assert any(line.startswith("mlp.data.quality.DatasetError: empty class folder 'train/b'")
               for line in done.stderr.splitlines())
