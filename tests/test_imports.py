"""The layers of mlp/ stay apart: the model core loads no data layer, pipeline or Prefect; the data layer
loads no trainer. Each import runs in a fresh interpreter, so nothing loaded by other tests hides a leak."""

from __future__ import annotations

import subprocess
import sys

import pytest

CORE = ["mlp.layers", "mlp.activations", "mlp.losses", "mlp.optim", "mlp.model", "mlp.train",
        "mlp.checkpoint", "mlp.config", "mlp.history"]
DATA = ["mlp.data.files", "mlp.data.split", "mlp.data.distort", "mlp.data.views", "mlp.data.transforms",
        "mlp.data.quality", "mlp.data.stream", "mlp.data.decoding"]


def loaded_after(modules: list[str]) -> set[str]:
    code = f"import sys\nfor m in {modules!r}: __import__(m)\nprint(' '.join(sorted(sys.modules)))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                          check=True)
    return set(done.stdout.split())


@pytest.mark.parametrize(("modules", "forbidden"), [
    (CORE, ("mlp.data", "flows", "prefect", "pydantic", "pyarrow", "PIL")),
    (DATA, ("mlp.train", "mlp.model", "mlp.optim", "flows", "prefect", "pydantic")),
])
def test_a_layer_loads_nothing_above_it(modules, forbidden):
    loaded = loaded_after(modules)
    leaks = sorted(m for m in loaded if m.split(".")[0] in forbidden or m in forbidden
                   or any(m.startswith(f + ".") for f in forbidden))
    assert leaks == []


def test_the_library_names_load_on_first_use():
    import mlp

    assert mlp.Trainer.__module__ == "mlp.train" and mlp.MLP.__module__ == "mlp.model"
    with pytest.raises(AttributeError, match="module 'mlp' has no attribute 'Nope'"):
        mlp.Nope  # noqa: B018
    assert "Trainer" in dir(mlp) and mlp.__version__
