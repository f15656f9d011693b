"""The train/validation split: stratified, duplicate-aware, optionally grouped (e.g. by writer), seeded.

Rows are labelled images: y (n,) class indices, hashes (n,) content hashes and, for a grouped split, groups
(n,) group keys such as a writer id. Rows that must stay together (the same content, or the same group) form
one *unit*; units go to validation whole, in a seeded order in which each unit's place depends only on its
own keys, so adding images keeps the earlier validation images in validation.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import PurePosixPath

import numpy as np

from mlp.data.transforms import check_rng

# How the pipeline names a grouping rule: none, the file stem, or a regular expression (see group_keys).
GROUPINGS = ("none", "stem")


@dataclass(frozen=True, eq=False)
class Split:
    """Row indices (sorted int64): ``train``, ``val``, and ``flagged`` (label-conflicting copies, kept in
    train and never in val)."""

    train: np.ndarray
    val: np.ndarray
    flagged: np.ndarray


def stratified_split(y: np.ndarray, hashes: np.ndarray, *, val_fraction: float = 0.1,
                     rng: np.random.Generator, groups: np.ndarray | None = None) -> Split:
    """Seeded stratified split of n labelled rows, y (n,) int >= 0, hashes (n,) content hashes, and
    optionally groups (n,) str keys that must not straddle the split (held out whole as by scikit-learn's
    GroupShuffleSplit, and stratified as its StratifiedGroupKFold is).

    Byte-identical rows (equal hash) and, with ``groups``, rows of one group form units that land whole on
    one side; copies bridging two groups join them. Each class sends ``val_fraction * n_class`` rows
    (rounded half up) to validation, at most: units are taken in the order of a keyed hash of their keys
    (sha256 of "<salt>:<key>", one salt drawn from ``rng``; a unit of several keys takes its first), each
    when it fits every class it holds. Hashes carrying two labels are label conflicts: flagged, and their
    units never in validation. A unit's place depends on its own keys only, so adding images keeps old
    validation images in validation, except (in a class without duplicates or groups) at most as many as
    the new images that enter it; the rows' order does not matter."""
    y, hashes = np.asarray(y), np.asarray(hashes)
    if y.ndim != 1 or hashes.shape != y.shape:
        raise ValueError(f"y and hashes must be 1-D of one length; got shapes {y.shape} and {hashes.shape}")
    if groups is not None and np.shape(groups) != y.shape:
        raise ValueError(f"groups must have the shape of y {y.shape}; got {np.shape(groups)}")
    if not np.issubdtype(y.dtype, np.integer) or (y.size and y.min() < 0):
        raise ValueError("y must hold class indices >= 0 (leave unlabelled rows out of the split)")
    if not 0.0 <= val_fraction < 1.0:
        raise ValueError(f"val_fraction must be in [0, 1); got {val_fraction}")
    salt = int(check_rng(rng).integers(2**63))
    _, hash_id = np.unique(hashes, return_inverse=True)
    keys, key_id = np.unique(hashes if groups is None else np.asarray(groups, str), return_inverse=True)
    unit = _units(hash_id.ravel(), key_id.ravel())
    n_units = int(unit.max()) + 1 if unit.size else 0

    labels_per_hash = np.bincount(np.unique(np.stack([hash_id.ravel(), y]), axis=1)[0])
    conflict_row = labels_per_hash[hash_id] > 1
    barred = np.zeros(n_units, bool)
    barred[unit[conflict_row]] = True

    # A unit's place: the first of its keys in the order of their keyed hashes.
    digests = [hashlib.sha256(f"{salt}:{k}".encode()).digest() for k in keys.tolist()]
    rank = np.argsort(np.argsort(np.array(digests, "S32"), kind="stable"))
    first = np.full(n_units, len(keys))
    np.minimum.at(first, unit, rank[key_id.ravel()])
    order = np.argsort(first, kind="stable")

    n_classes = int(y.max()) + 1 if y.size else 0
    room = np.floor(val_fraction * np.bincount(y, minlength=n_classes) + 0.5).astype(np.int64)
    pairs, counts = np.unique(np.stack([unit, y]), axis=1, return_counts=True)
    starts = np.searchsorted(pairs[0], np.arange(n_units + 1))  # unit u's classes: pairs[1][starts[u]:...]
    in_val = np.zeros(n_units, bool)
    for u in order.tolist():
        if not room.any():
            break
        if barred[u]:
            continue
        classes, need = pairs[1][starts[u]:starts[u + 1]], counts[starts[u]:starts[u + 1]]
        if np.all(need <= room[classes]):
            in_val[u] = True
            room[classes] -= need
    val_rows = in_val[unit]
    return Split(train=np.flatnonzero(~val_rows), val=np.flatnonzero(val_rows),
                 flagged=np.flatnonzero(conflict_row))


def _units(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Connected components of rows linked by equal ``a`` or equal ``b`` (both (n,) ids from 0): (n,) unit
    ids numbered from 0 in order of their smallest ``b``. Min-label propagation, a few NumPy passes."""
    if a.size == 0:
        return np.zeros(0, np.int64)
    label = np.arange(int(b.max()) + 1)  # per b id: the smallest b id reachable so far
    while True:
        via_a = np.full(int(a.max()) + 1, label.size)
        np.minimum.at(via_a, a, label[b])
        new = label.copy()
        np.minimum.at(new, b, via_a[a])
        new = new[new]  # jump along chains
        if np.array_equal(new, label):
            break
        label = new
    return np.unique(label[b], return_inverse=True)[1].ravel()


def group_keys(paths: np.ndarray, rule: str) -> np.ndarray | None:
    """The group key of each labelled image from its path ``<split>/<class>/<rest>``, by ``rule``: None for
    ``"none"``; ``"stem"``: the file name without extension (``train/3/17.bmp`` -> ``17``, so file 17 of
    every class is one group); otherwise a regular expression searched in ``<rest>``, the key being its
    first capturing group (or the whole match), e.g. ``^(\\w+)_`` groups ``alice_1.bmp`` with ``alice_2.bmp``.
    A path the expression does not match, or matches without its first group, raises ValueError naming it."""
    if rule == "none":
        return None
    rest = [p.split("/", 2)[-1] for p in np.asarray(paths, str).tolist()]
    if rule == "stem":
        return np.array([PurePosixPath(r).stem for r in rest], str)
    pattern = compile_grouping(rule)
    keys = []
    for path, r in zip(np.asarray(paths, str).tolist(), rest, strict=True):
        match = pattern.search(r)
        key = None if match is None else match.group(1) if pattern.groups else match.group(0)
        if key is None:
            raise ValueError(f"grouping '{rule}' does not match {path!r} (searched in {r!r})" if match is None
                             else f"grouping '{rule}' matches {path!r} without its first group taking part")
        keys.append(key)
    return np.array(keys, str)


def compile_grouping(rule: str) -> re.Pattern:
    """A grouping rule that is a regular expression, compiled; an invalid one raises ValueError naming it."""
    try:
        return re.compile(rule)
    except re.error as error:
        raise ValueError(f"grouping '{rule}' is neither {' nor '.join(GROUPINGS)} nor a valid regular "
                         f"expression: {error}") from None
