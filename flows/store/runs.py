"""A run's bookkeeping on disk: claim its folder, record its parameters, point `latest` at it.

Where things go is decided in `flows.store.layout`; this module creates them, atomically (`mlp.atomic`). No
Prefect here, so all of it is tested directly.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from flows.store.layout import RunLayout, check_folder_name, latest_link, runs_dir
from mlp.atomic import point_symlink, write_bytes


def claim_folder(parent: Path, name: str) -> Path:
    """Create ``parent/<name>/`` (``<name>-2``, ``-3``, ... when taken) and return it.

    The folder is created exclusively, so two runs started in the same second never share one.
    """
    Path(parent).mkdir(parents=True, exist_ok=True)
    for attempt in range(1, 1000):
        folder = Path(parent) / (name if attempt == 1 else f"{name}-{attempt}")
        try:
            folder.mkdir()
        except FileExistsError:
            continue
        return folder
    raise FileExistsError(f"no free folder for {name!r} under {parent} after 999 attempts")


def claim_run(output_dir: Path, name: str, data_root: Path | None = None) -> RunLayout:
    """Create the run folder ``output_dir/runs/<name>/`` (see `claim_folder`) and return its layout.

    Raises ValueError, before writing anything, when ``output_dir`` lies inside ``data_root``: the raw data
    folder is only ever read."""
    if data_root is not None and Path(output_dir).resolve().is_relative_to(Path(data_root).resolve()):
        raise ValueError(f"--output-dir {output_dir} lies inside the data folder {data_root}, which is only "
                         "ever read; choose an output folder outside it")
    return RunLayout.at(claim_folder(runs_dir(output_dir), check_folder_name(name, "run name")))


def record_run(layout: RunLayout, parameters: Mapping[str, Any], data: Mapping[str, str]) -> Path:
    """Write the run's params.json: its name, its data ({root, kind}: which folder and how it was chosen)
    and its parameters (JSON-able)."""
    record = {"run_name": layout.name, "data": dict(data), "parameters": dict(parameters)}
    text = json.dumps(record, indent=2, ensure_ascii=False) + "\n"
    return write_bytes(layout.params, text.encode("utf-8"))


def point_latest(output_dir: Path, run_root: Path) -> Path:
    """Make ``output_dir/latest`` a relative symlink to `run_root`, swapped atomically; return the link.

    Raises FileExistsError when ``latest`` exists and is not a symlink (nothing is deleted).
    """
    target = os.path.relpath(Path(run_root).resolve(), Path(output_dir).resolve())
    return point_symlink(latest_link(output_dir), target)


def read_record(layout: RunLayout) -> dict[str, Any]:
    """The run's params.json as `record_run` wrote it."""
    return json.loads(layout.params.read_text(encoding="utf-8"))
