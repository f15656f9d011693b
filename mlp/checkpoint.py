"""Checkpoints: one `.npz` of plain arrays (never pickled) with JSON metadata inside, written atomically.

Layout of the archive: `params/<name>` and `buffers/<name>` (the model), `members/<i>/params/<name>` and
`members/<i>/buffers/<name>` (the other models of an ensemble, if any), `optimizer/<key>` (optimiser state
arrays), `extra/<key>` (any other arrays, e.g. the trainer's best weights), and `__meta__`: the UTF-8 JSON
below, stored as a uint8 array. The JSON holds the format version, the model's config and dropout RNG state,
the members' configs, epoch, metrics, train config, the optimiser's scalar state, RNG states, history, the
caller's metadata and a SHA-256 checksum of every array and of the rest of the JSON, verified on load.
Version 1 files (whose checksum covers the arrays only) and version 2 files (no members) still load.
"""

from __future__ import annotations

import hashlib
import json
import zipfile
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from mlp.atomic import save_npz
from mlp.model import MLP

FORMAT = "mlpflow-checkpoint"
VERSION = 3
# 1: the checksum covers the arrays only; 2: the arrays and the JSON metadata; 3: with ensemble members
_READABLE_VERSIONS = (1, 2, 3)
_META = "__meta__"
_ZIP_MAGIC = b"PK\x03\x04"
_KEYS = ("model_config", "model_rng", "epoch", "metrics", "train_config", "optimizer", "rng_state", "history",
         "metadata", "checksum")


@dataclass
class Checkpoint:
    """A loaded checkpoint: the rebuilt model, the other members of its ensemble (if any) and everything
    saved beside it."""

    model: MLP
    metadata: dict
    epoch: int | None = None
    metrics: dict = field(default_factory=dict)
    train_config: dict | None = None
    optimizer_state: dict | None = None
    rng_state: dict = field(default_factory=dict)
    history: list[dict] = field(default_factory=list)
    arrays: dict[str, np.ndarray] = field(default_factory=dict)
    path: Path | None = None
    members: list[MLP] = field(default_factory=list)


def _checksum(arrays: dict[str, np.ndarray], meta_json: str | None = None) -> str:
    """SHA-256 over the arrays' names, dtypes, shapes and bytes, in name order, then over `meta_json` (the
    metadata without its checksum, as json.dumps writes it) when given."""
    digest = hashlib.sha256()
    for name in sorted(arrays):
        a = np.ascontiguousarray(arrays[name])
        digest.update(f"{name}|{a.dtype.str}|{a.shape}|".encode())
        digest.update(a.tobytes())
    if meta_json is not None:
        digest.update(f"{_META}|".encode())
        digest.update(meta_json.encode("utf-8"))
    return digest.hexdigest()


def save_checkpoint(path: str | Path, model: MLP, *, metadata: dict | None = None, epoch: int | None = None,
                    metrics: dict | None = None, train_config: dict | None = None,
                    optimizer_state: dict | None = None, rng_state: dict | None = None,
                    history: list[dict] | None = None, arrays: dict[str, np.ndarray] | None = None,
                    members: Sequence[MLP] = ()) -> Path:
    """Save the model and what is given beside it to one .npz at `path`, atomically; returns the path.

    metadata, metrics, train_config, rng_state and history must be JSON-able (TypeError otherwise, raised
    before anything is written). optimizer_state is `Optimizer.state_dict()` output; `arrays` are extra named
    arrays returned as `Checkpoint.arrays`; `members` are further models (an ensemble) saved beside
    `model`, their weights and buffers but not their dropout generators (train each from its own checkpoint),
    returned as `Checkpoint.members`. Object arrays are refused: nothing is ever pickled.
    """
    out: dict[str, np.ndarray] = {}
    for prefix, m in [("", model), *((f"members/{i}/", m) for i, m in enumerate(members))]:
        out.update({f"{prefix}params/{k}": v for k, v in m.params().items()})
        out.update({f"{prefix}buffers/{k}": v for k, v in m.buffers().items()})
    optimizer_meta = None
    if optimizer_state is not None:
        optimizer_meta = {k: v for k, v in optimizer_state.items() if k != "arrays"}
        out.update({f"optimizer/{k}": v for k, v in optimizer_state.get("arrays", {}).items()})
    out.update({f"extra/{k}": v for k, v in (arrays or {}).items()})
    for name, a in out.items():
        if not isinstance(a, np.ndarray) or a.dtype.hasobject:
            raise TypeError(f"checkpoint array {name!r} must be a numeric ndarray, got {type(a).__name__} "
                            f"{getattr(a, 'dtype', '')}")
    meta = {"format": FORMAT, "version": VERSION, "model_config": model.config,
            "model_rng": model.rng.bit_generator.state, "members": [m.config for m in members],
            "epoch": epoch, "metrics": metrics or {},
            "train_config": train_config, "optimizer": optimizer_meta, "rng_state": rng_state or {},
            "history": history or [], "metadata": metadata or {}}
    try:
        body = json.dumps(meta)
    except TypeError as e:
        raise TypeError(f"checkpoint metadata for {path} is not JSON-able: {e}") from e
    # Loading re-serialises the parsed metadata (checksum removed); json.dumps of json.loads of json.dumps
    # output gives the same text, and the checksum goes last so removing it leaves the key order intact.
    meta["checksum"] = _checksum(out, body)
    text = json.dumps(meta)
    out[_META] = np.frombuffer(text.encode("utf-8"), dtype=np.uint8)
    return save_npz(path, out)


def _load_arrays(path: Path) -> dict[str, np.ndarray]:
    """Every array of the .npz at `path`, pickle refused. Raises ValueError, one line naming the file (or
    PermissionError, FileNotFoundError), for anything else: not a zip archive (a text file, a lone .npy), a
    truncated or corrupt archive, object arrays. NumPy's own messages (one suggests loading "unsafely" with
    allow_pickle) are never passed on."""
    try:
        with open(path, "rb") as handle:
            head = handle.read(len(_ZIP_MAGIC))
    except FileNotFoundError:
        raise
    except OSError as e:
        error = PermissionError if isinstance(e, PermissionError) else ValueError
        raise error(f"{path} cannot be read: {e.strerror or e}") from None
    if not zipfile.is_zipfile(path):
        if head == _ZIP_MAGIC:
            raise ValueError(f"{path} is a damaged checkpoint: a truncated or corrupt zip archive")
        what = "an empty file" if not head else "not a .npz (zip) archive of arrays"
        raise ValueError(f"{path} is not an mlpflow checkpoint: {what}")
    arrays: dict[str, np.ndarray] = {}
    try:
        with np.load(path, allow_pickle=False) as npz:
            for key in npz.files:
                value = npz[key]  # a member that is not .npy comes back as raw bytes
                if not isinstance(value, np.ndarray):
                    raise ValueError(f"{path} is not an mlpflow checkpoint: entry {key!r} is not an array")
                arrays[key] = value
    except ValueError as e:
        if str(e).startswith(str(path)):
            raise
        if "pickle" in str(e):
            raise ValueError(f"{path} is not an mlpflow checkpoint: it holds object (pickled) arrays, which "
                             f"mlpflow never writes and never loads") from None
        raise ValueError(f"{path} is a damaged checkpoint: {_first_line(e)}") from None
    except (OSError, EOFError, zipfile.BadZipFile, zlib.error) as e:
        raise ValueError(f"{path} is a damaged checkpoint: {_first_line(e)}") from None
    return arrays


def _first_line(e: Exception) -> str:
    """An exception as one line, type first; NumPy's advice about allow_pickle cut off."""
    text = (str(e).splitlines() or [""])[0].split(" If you trust")[0]
    return f"{type(e).__name__}: {text}" if text else type(e).__name__


def _read(path: Path) -> tuple[dict, dict[str, np.ndarray]]:
    """The JSON metadata and the arrays of a checkpoint file, checksum verified."""
    arrays = _load_arrays(path)
    if _META not in arrays:
        raise ValueError(f"{path} is not an mlpflow checkpoint: no {_META} entry")
    try:
        meta = json.loads(arrays.pop(_META).tobytes().decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ValueError(f"{path} is corrupted: its {_META} entry is not UTF-8 JSON ({e})") from e
    if not isinstance(meta, dict):
        raise ValueError(f"{path} is corrupted: its {_META} entry holds a JSON {type(meta).__name__}, "
                         f"not an object")
    if meta.get("format") != FORMAT or meta.get("version") not in _READABLE_VERSIONS:
        raise ValueError(f"{path} has format {meta.get('format')!r} version {meta.get('version')!r}; "
                         f"expected {FORMAT!r} version {' or '.join(map(str, _READABLE_VERSIONS))}")
    missing = [key for key in _KEYS if key not in meta]
    if missing:
        raise ValueError(f"{path} is corrupted: its metadata lacks {missing}")
    body = None
    if meta["version"] >= 2:
        body = json.dumps({k: v for k, v in meta.items() if k != "checksum"})
    if _checksum(arrays, body) != meta["checksum"]:
        covered = "arrays" if body is None else "arrays or metadata"
        raise ValueError(f"{path} is corrupted: its {covered} do not match the checksum stored in it")
    return meta, arrays


def _prefixed(arrays: dict[str, np.ndarray], prefix: str) -> dict[str, np.ndarray]:
    return {k[len(prefix):]: v for k, v in arrays.items() if k.startswith(prefix)}


def load_checkpoint(path: str | Path, model: MLP | None = None) -> Checkpoint:
    """Load a checkpoint written by save_checkpoint.

    Without `model`, rebuilds the saved architecture (`MLP(**model_config)`) and loads the weights into it.
    With `model`, loads into that model: a different architecture raises ValueError naming the parameter and
    both shapes (or both activations). A damaged file or a checksum mismatch raises ValueError.
    """
    path = Path(path)
    meta, arrays = _read(path)
    saved = meta["model_config"]
    if not isinstance(saved, dict) or not {"layer_sizes", "activation"} <= set(saved):
        raise ValueError(f"{path} is corrupted: its model_config {saved!r} lacks layer_sizes or activation")
    source = f"checkpoint {path} ({saved['layer_sizes']})"
    if model is None:
        try:
            model = MLP(**saved)
        except (TypeError, ValueError) as e:
            raise ValueError(f"{path} has a model_config that builds no MLP: {e}") from e
    if model.config["activation"] != saved["activation"]:
        raise ValueError(f"{source} was trained with activation {saved['activation']!r}, "
                         f"the model uses {model.config['activation']!r}")
    model.load_state(_prefixed(arrays, "params/"), _prefixed(arrays, "buffers/"), source=source)
    model.rng.bit_generator.state = meta["model_rng"]
    members = []
    for i, config in enumerate(meta.get("members", [])):
        try:
            member = MLP(**config)
        except (TypeError, ValueError) as e:
            raise ValueError(f"{path} has a member {i} config that builds no MLP: {e}") from e
        prefix = f"members/{i}/"
        member.load_state(_prefixed(arrays, prefix + "params/"), _prefixed(arrays, prefix + "buffers/"),
                          source=f"checkpoint {path} (member {i})")
        members.append(member)
    optimizer_state = None
    if meta["optimizer"] is not None:
        optimizer_state = {**meta["optimizer"], "arrays": _prefixed(arrays, "optimizer/")}
    return Checkpoint(model=model, metadata=meta["metadata"], epoch=meta["epoch"], metrics=meta["metrics"],
                      train_config=meta["train_config"], optimizer_state=optimizer_state,
                      rng_state=meta["rng_state"], history=meta["history"],
                      arrays=_prefixed(arrays, "extra/"), path=path, members=members)
