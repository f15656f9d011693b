"""Every kind of file named .npz that is no checkpoint, for the checkpoint's and the commands' tests."""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np

from mlp.checkpoint import save_checkpoint
from mlp.model import MLP


def bad_checkpoints(tmp_path: Path) -> list[tuple[Path, str]]:
    """Files named .npz that are no checkpoint, each with the words its error must hold."""
    good = save_checkpoint(tmp_path / "good.npz", MLP([3, 2])).read_bytes()
    text = tmp_path / "text.npz"
    text.write_text("epoch,loss\n1,0.5\n")
    empty = tmp_path / "empty.npz"
    empty.write_bytes(b"")
    lone = tmp_path / "lone.npz"
    with lone.open("wb") as handle:
        np.save(handle, np.zeros(3))  # a .npy under a .npz name: NumPy would return one array
    truncated = tmp_path / "truncated.npz"
    truncated.write_bytes(good[: len(good) // 2])
    flipped = bytearray(good)
    flipped[300:340] = bytes(40)  # inside the first member's data: a CRC mismatch
    corrupt = tmp_path / "corrupt.npz"
    corrupt.write_bytes(bytes(flipped))
    objects = tmp_path / "objects.npz"
    np.savez(objects, a=np.array([{"x": 1}, None], dtype=object))
    foreign = tmp_path / "foreign.npz"
    with zipfile.ZipFile(foreign, "w") as archive:
        archive.writestr("notes.txt", "hello")
    return [
        (text, "is not an mlpflow checkpoint: not a .npz (zip) archive"),
        (empty, "is not an mlpflow checkpoint: an empty file"),
        (lone, "is not an mlpflow checkpoint: not a .npz (zip) archive"),
        (truncated, "is a damaged checkpoint: a truncated or corrupt zip archive"),
        (corrupt, "is a damaged checkpoint: BadZipFile: Bad CRC-32"),
        (objects, "is not an mlpflow checkpoint: it holds object (pickled) arrays"),
        (foreign, "is not an mlpflow checkpoint: entry 'notes.txt' is not an array"),
    ]
