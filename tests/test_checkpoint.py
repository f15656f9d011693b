"""Checkpoints: round trip, no pickle, architecture mismatch, atomic writes, checksum, damaged files."""

from __future__ import annotations

import hashlib
import json
import os
import re
from pathlib import Path

import numpy as np
import pytest

from mlp.checkpoint import load_checkpoint, save_checkpoint
from mlp.model import MLP
from mlp.optim import Adam
from tests.bad_checkpoints import bad_checkpoints


def _trained_model() -> tuple[MLP, Adam]:
    model = MLP([4, 6, 3], batchnorm=True, dropout=0.2, seed=2)
    optimizer = Adam()
    x = np.random.default_rng(0).standard_normal((8, 4))
    for _ in range(2):
        model.forward(x, train=True)
        model.backward(np.ones((8, 3), np.float32))
        optimizer.step(model.flat_params, model.flat_grads, 0.01)
    return model, optimizer


def test_an_ensemble_round_trips_whole(tmp_path: Path):
    model, _ = _trained_model()
    others = [MLP([4, 5, 3], seed=7), MLP([4, 6, 6, 3], batchnorm=True, seed=8)]
    others[1].forward(np.ones((3, 4)), train=True)  # running statistics away from their start
    path = save_checkpoint(tmp_path / "ensemble.npz", model, members=others, metadata={"views": ["a"] * 3})
    ckpt = load_checkpoint(path)
    assert ckpt.model.config == model.config and len(ckpt.members) == 2
    x = np.random.default_rng(1).standard_normal((5, 4))
    for saved, loaded in zip(others, ckpt.members, strict=True):
        assert loaded.config == saved.config
        np.testing.assert_array_equal(loaded.forward(x), saved.forward(x))
        for name, value in saved.buffers().items():
            np.testing.assert_array_equal(loaded.buffers()[name], value)
    assert load_checkpoint(save_checkpoint(tmp_path / "one.npz", model)).members == []


def test_round_trip(tmp_path: Path):
    model, optimizer = _trained_model()
    rng = np.random.default_rng(5)
    metadata = {"class_names": ["博", "学", "笃"], "preprocessing": {"mean": 0.1, "std": 0.3}}
    path = save_checkpoint(tmp_path / "best.npz", model, metadata=metadata, epoch=7,
                           metrics={"val_loss": 0.25}, train_config={"lr": 0.01},
                           optimizer_state=optimizer.state_dict(),
                           rng_state={"shuffle": rng.bit_generator.state}, history=[{"epoch": 1}],
                           arrays={"best_params": model.flat_params * 2})
    ckpt = load_checkpoint(path)
    x = np.random.default_rng(1).standard_normal((5, 4))
    np.testing.assert_array_equal(ckpt.model.forward(x), model.forward(x))
    np.testing.assert_array_equal(ckpt.model.flat_params, model.flat_params)
    for name, value in model.buffers().items():
        np.testing.assert_array_equal(ckpt.model.buffers()[name], value)
    assert ckpt.model.config == model.config
    assert ckpt.model.rng.bit_generator.state == model.rng.bit_generator.state
    assert (ckpt.metadata, ckpt.epoch, ckpt.metrics, ckpt.train_config, ckpt.history) == \
        (metadata, 7, {"val_loss": 0.25}, {"lr": 0.01}, [{"epoch": 1}])
    assert ckpt.rng_state["shuffle"] == rng.bit_generator.state
    assert ckpt.optimizer_state["t"] == 2 and ckpt.optimizer_state["name"] == "adam"
    np.testing.assert_array_equal(ckpt.optimizer_state["arrays"]["m_sum"], optimizer.state["m_sum"])
    np.testing.assert_array_equal(ckpt.arrays["best_params"], model.flat_params * 2)


def test_file_is_plain_arrays_with_json_inside(tmp_path: Path):
    model, _ = _trained_model()
    save_checkpoint(tmp_path / "m.npz", model, metadata={"k": 1})
    with np.load(tmp_path / "m.npz", allow_pickle=False) as npz:
        assert not any(npz[name].dtype.hasobject for name in npz.files)
        meta = json.loads(npz["__meta__"].tobytes().decode("utf-8"))
        assert "params/fc0.W" in npz.files and "buffers/bn0.running_var" in npz.files
    assert meta["model_config"]["layer_sizes"] == [4, 6, 3] and meta["metadata"] == {"k": 1}


def test_loading_into_another_architecture_names_both_shapes(tmp_path: Path):
    save_checkpoint(tmp_path / "m.npz", MLP([4, 6, 3]))
    other = MLP([4, 5, 3])
    before = other.flat_params.copy()
    mismatch = r"'fc0.W' has shape \(4, 6\) in checkpoint .* but \(4, 5\) in the model"
    with pytest.raises(ValueError, match=mismatch):
        load_checkpoint(tmp_path / "m.npz", model=other)
    np.testing.assert_array_equal(other.flat_params, before)
    with pytest.raises(ValueError, match="activation 'relu', the model uses 'tanh'"):
        load_checkpoint(tmp_path / "m.npz", model=MLP([4, 6, 3], activation="tanh"))
    same = MLP([4, 6, 3], seed=8)
    assert load_checkpoint(tmp_path / "m.npz", model=same).model is same


def test_refuses_what_it_cannot_store_without_writing(tmp_path: Path):
    model = MLP([2, 2])
    with pytest.raises(TypeError, match="not JSON-able"):
        save_checkpoint(tmp_path / "m.npz", model, metadata={"when": object()})
    with pytest.raises(TypeError, match="'extra/names' must be a numeric ndarray"):
        save_checkpoint(tmp_path / "m.npz", model, arrays={"names": np.array(["a", None], dtype=object)})
    assert list(tmp_path.iterdir()) == []


def test_a_failed_write_leaves_the_previous_file_and_no_temporary(tmp_path: Path, monkeypatch):
    path = save_checkpoint(tmp_path / "best.npz", MLP([2, 2], seed=1), epoch=1)
    before = path.read_bytes()

    def crash(src, dst):
        raise OSError("simulated crash before the rename")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError, match="simulated crash"):
        save_checkpoint(path, MLP([2, 2], seed=2), epoch=2)
    monkeypatch.undo()
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["best.npz"]
    assert load_checkpoint(path).epoch == 1


def test_tampered_arrays_fail_the_checksum(tmp_path: Path):
    path = save_checkpoint(tmp_path / "m.npz", MLP([3, 2]))
    with np.load(path, allow_pickle=False) as npz:
        arrays = {k: npz[k] for k in npz.files}
    arrays["params/fc0.b"] = arrays["params/fc0.b"] + 1
    np.savez(path, **arrays)
    with pytest.raises(ValueError, match="corrupted"):
        load_checkpoint(path)


def test_truncated_and_foreign_files_raise_value_errors(tmp_path: Path):
    path = save_checkpoint(tmp_path / "m.npz", MLP([3, 2]))
    path.write_bytes(path.read_bytes()[:200])
    with pytest.raises(ValueError, match="damaged checkpoint: a truncated or corrupt zip archive"):
        load_checkpoint(path)
    np.savez(tmp_path / "plain.npz", a=np.zeros(2))
    with pytest.raises(ValueError, match="not an mlpflow checkpoint"):
        load_checkpoint(tmp_path / "plain.npz")
    with pytest.raises(FileNotFoundError):
        load_checkpoint(tmp_path / "missing.npz")


def _rewrite_meta(path: Path, edit) -> None:
    """Replace the checkpoint's __meta__ entry by edit(its bytes), keeping every array."""
    with np.load(path, allow_pickle=False) as npz:
        arrays = {k: npz[k] for k in npz.files}
    arrays["__meta__"] = np.frombuffer(edit(arrays["__meta__"].tobytes()), dtype=np.uint8)
    np.savez(path, **arrays)


def _edit_json(change):
    def edit(raw: bytes) -> bytes:
        meta = json.loads(raw.decode("utf-8"))
        change(meta)
        return json.dumps(meta).encode("utf-8")
    return edit


@pytest.mark.parametrize(("edit", "message"), [
    (lambda raw: raw[:-40], r"__meta__ entry is not UTF-8 JSON"),
    (lambda raw: b"\xff" + raw, r"__meta__ entry is not UTF-8 JSON"),
    (lambda raw: b"[1, 2]", r"__meta__ entry holds a JSON list, not an object"),
    (_edit_json(lambda meta: meta.pop("model_config")), r"metadata lacks \['model_config'\]"),
    (_edit_json(lambda meta: meta.update(epoch=8)), r"arrays or metadata do not match the checksum"),
    (_edit_json(lambda meta: meta["metadata"].update(class_names=["b", "a"])), r"do not match the checksum"),
])
def test_damaged_metadata_raises_value_errors_naming_the_file(tmp_path: Path, edit, message):
    path = save_checkpoint(tmp_path / "m.npz", MLP([3, 2]), epoch=7, metadata={"class_names": ["a", "b"]})
    _rewrite_meta(path, edit)
    with pytest.raises(ValueError, match=re.escape(str(path)) + ".*" + message):
        load_checkpoint(path)


def test_metadata_with_awkward_values_round_trips_through_the_checksum(tmp_path: Path):
    metrics = {"val_loss": 0.1 + 0.2, "tiny": 5e-324, "nan": float("nan"), "inf": -float("inf"), 3: (1, 2)}
    path = save_checkpoint(tmp_path / "m.npz", MLP([3, 2]), metrics=metrics, metadata={"名": "\u00e9\n\""})
    ckpt = load_checkpoint(path)
    assert ckpt.metrics["val_loss"] == 0.1 + 0.2 and ckpt.metrics["3"] == [1, 2]
    assert ckpt.metadata == {"名": "\u00e9\n\""}


def _as_version_1(raw: bytes, arrays: dict[str, np.ndarray]) -> bytes:
    """The __meta__ a version 1 writer made: the same JSON with a checksum over the arrays only."""
    meta = json.loads(raw.decode("utf-8"))
    digest = hashlib.sha256()
    for name in sorted(arrays):
        a = np.ascontiguousarray(arrays[name])
        digest.update(f"{name}|{a.dtype.str}|{a.shape}|".encode())
        digest.update(a.tobytes())
    meta.update(version=1, checksum=digest.hexdigest())
    return json.dumps(meta).encode("utf-8")


def test_version_1_checkpoints_still_load(tmp_path: Path):
    model, optimizer = _trained_model()
    path = save_checkpoint(tmp_path / "v1.npz", model, epoch=3, optimizer_state=optimizer.state_dict())
    with np.load(path, allow_pickle=False) as npz:
        arrays = {k: npz[k] for k in npz.files if k != "__meta__"}
    _rewrite_meta(path, lambda raw: _as_version_1(raw, arrays))
    ckpt = load_checkpoint(path)
    np.testing.assert_array_equal(ckpt.model.flat_params, model.flat_params)
    assert ckpt.epoch == 3 and ckpt.optimizer_state["t"] == 2
    with np.load(path, allow_pickle=False) as npz:
        arrays = {k: npz[k] for k in npz.files}
    arrays["params/fc0.b"] = arrays["params/fc0.b"] + 1
    np.savez(path, **arrays)
    with pytest.raises(ValueError, match=re.escape(str(path)) + r" is corrupted: its arrays do not match"):
        load_checkpoint(path)


def test_files_that_are_no_checkpoint_raise_one_line_naming_them_never_numpys_pickle_advice(tmp_path: Path):
    for path, words in bad_checkpoints(tmp_path):
        with pytest.raises(ValueError) as caught:
            load_checkpoint(path)
        message = str(caught.value)
        assert message.startswith(str(path)) and words in message, message
        assert "\n" not in message and "allow_pickle" not in message and "unsafe" not in message, message
        assert caught.value.__cause__ is None  # NumPy's exception is not chained into the traceback either


# --- Killed mid-write: a child process saves versions 1, 2, 3, ... of one checkpoint (every weight equal to
# the version's number) until it is killed with SIGKILL at a random moment. The file must load whole, as one
# version, whenever the kill lands; what the kill leaves is only mlp.atomic's hidden temporary files.
_WRITER = """
import sys
from mlp.checkpoint import save_checkpoint
from mlp.model import MLP
from tests.bad_checkpoints import bad_checkpoints
model = MLP([784, 1000, 12], seed=0)
version = 0
while True:
    version += 1
    model.flat_params.fill(version)
    save_checkpoint(sys.argv[1], model, epoch=version, metrics={"version": version})
    print(version, flush=True)
"""
KILLS = 12


def test_a_kill_during_a_checkpoint_write_never_leaves_a_damaged_checkpoint(tmp_path):
    import signal
    import subprocess
    import sys
    import time

    repo = Path(__file__).resolve().parents[1]
    path, rng, versions, leftovers = tmp_path / "last.npz", np.random.default_rng(0), [], 0
    for _ in range(KILLS):
        writer = subprocess.Popen([sys.executable, "-c", _WRITER, str(path)], cwd=repo, text=True,
                                  stdout=subprocess.PIPE, env={**os.environ, "PYTHONPATH": str(repo)})
        assert writer.stdout.readline().strip().isdigit()  # one version written whole, the next under way
        time.sleep(rng.uniform(0, 0.15))
        writer.send_signal(signal.SIGKILL)
        writer.wait()
        checkpoint = load_checkpoint(path)
        version = checkpoint.epoch
        assert checkpoint.metrics["version"] == version >= 1
        assert np.all(checkpoint.model.flat_params == version)  # one version, whole
        versions.append(version)
        others = [p.name for p in tmp_path.iterdir() if p != path]
        assert all(re.fullmatch(r"\.last\.npz\.\w+\.tmp", name) for name in others), others
        leftovers += len(others)
        for name in others:
            (tmp_path / name).unlink()
    assert len(set(versions)) > 1  # the kills landed at different moments
    assert leftovers > 0  # and some in the middle of a write (9 of 12 here, most of a loop being the write)
