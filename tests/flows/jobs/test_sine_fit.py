"""The sine-fit flow: a short real fit through Prefect, its figure on disk and in the `sine-fit` artifact."""

from __future__ import annotations

import base64
import io
import re

import numpy as np
import pytest
from PIL import Image
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

from flows.cli import run_command
from flows.jobs.sine_fit import (
    FIGURE,
    SINE_FIT,
    fit,
    fit_sine,
    mean_squared_error,
    report_markdown,
    sine_data,
    sine_fit,
)
from mlp import MLP

PNG_URI = re.compile(r"\(data:image/png;base64,([A-Za-z0-9+/=]+)\)")


def png_size(data: bytes) -> tuple[int, int]:
    with Image.open(io.BytesIO(data)) as image:
        assert image.format == "PNG"
        return image.size


def test_the_report_tabulates_the_curve_at_powers_of_ten_and_embeds_the_figure():
    result = fit.fn(iterations=120, lr=3e-4, seed=0)
    text = report_markdown(result, 3e-4, 0, b"\x89PNG-bytes")
    curve = [2 * r.train_loss for r in result.history.records]
    rows = re.findall(r"^\| (\d+) \| ([0-9.e+-]+) \|$", text, flags=re.MULTILINE)
    assert [int(i) for i, _ in rows] == [1, 10, 100, 120]
    assert [float(v) for _, v in rows] == pytest.approx([curve[0], curve[9], curve[99], curve[119]], rel=1e-3)
    assert f"Final MSE {result.mse:.3e}" in text and "MLP \\[1, 100, 100, 1\\]" in text
    assert PNG_URI.search(text).group(1) == base64.b64encode(b"\x89PNG-bytes").decode()


@pytest.mark.usefixtures("prefect_harness")
def test_the_flow_fits_writes_the_figure_and_publishes_it(tmp_path):
    state = sine_fit(iterations=300, output_dir=tmp_path, return_state=True)
    assert state.is_completed()
    mse = state.result()
    model, history, x, y = fit_sine(iterations=300)  # the same seeded fit, without Prefect
    assert mse == mean_squared_error(model, x, y)
    assert mse < history.records[0].train_loss  # below half the initial MSE (the loss is 0.5·MSE)

    png = (tmp_path / FIGURE).read_bytes()
    assert png_size(png) == (1000, 400)
    run_filter = FlowRunFilter(id=FlowRunFilterId(any_=[state.state_details.flow_run_id]))
    with get_client(sync_client=True) as client:
        [artifact] = client.read_artifacts(flow_run_filter=run_filter)
    assert artifact.key == SINE_FIT and artifact.type == "markdown"
    assert base64.b64decode(PNG_URI.search(artifact.data).group(1)) == png
    assert f"Final MSE {mse:.3e}" in artifact.data


@pytest.mark.parametrize(("args", "message"), [
    (["--iterations", "0"], "argument --iterations: input should be greater than or equal to 1 (got 0)"),
    (["--iterations", "2.5"], "argument --iterations: input should be a valid integer"),
    (["--lr", "-1"], "argument --lr: input should be greater than 0 (got -1)"),
    (["--lr", "nan"], "argument --lr: input should be a finite number (got nan)"),
])
def test_bad_values_end_the_command_with_one_line_naming_the_flag(args, message, capsys):
    with pytest.raises(SystemExit) as stop:
        run_command("sine", args)
    assert stop.value.code == 2
    errors = [line for line in capsys.readouterr().err.splitlines() if "error:" in line]
    assert len(errors) == 1 and message in errors[0]


def test_sine_data():
    x, y = sine_data(64)
    assert x.shape == y.shape == (64, 1) and x.dtype == y.dtype == np.float32
    assert x[0, 0] == 0.0 and x[-1, 0] == 1.0
    np.testing.assert_allclose(y, np.sin(2 * np.pi * x), atol=1e-6)
    with pytest.raises(ValueError, match="at least 2"):
        sine_data(1)


def test_fit_sine_reaches_the_target():
    # The setting ([1, 100, 100, 1], MSE, Adam 3e-4, full batch of 64) with 4,000 of the demo's
    # 10,000 iterations: enough to pass the 1e-3 target, short enough for the suite.
    model, history, x, y = fit_sine(iterations=4000)
    assert model.config["layer_sizes"] == [1, 100, 100, 1]
    assert len(history) == 4000 and history.monitor == "train_loss"
    mse = mean_squared_error(model, x, y)
    assert mse < 1e-3
    assert history.records[0].train_loss > 100 * mse


def test_mean_squared_error_by_hand():
    model = MLP([1, 1])  # one weight w and a zero bias: the output is w·x
    w = float(model.params()["fc0.W"][0, 0])
    x, y = np.array([[1.0], [2.0]], np.float32), np.array([[0.0], [1.0]], np.float32)
    assert mean_squared_error(model, x, y) == pytest.approx((w**2 + (2 * w - 1) ** 2) / 2, rel=1e-6)
