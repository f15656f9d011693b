"""The champion: one promoted model per data folder, replaced only by a strictly better challenger.

Each data folder has its own models folder, keyed like its ingested data set (`flows.store.layout.source_key`:
the data set is `<output>/datasets/<key>.parquet`), so a run on other data (the digits demo, say) never
competes with another folder's champion:

    <output>/models/<key>/versions/<run-name>/model.npz            every model ever promoted, never changed
    <output>/models/<key>/versions/<run-name>/promotion.json       the decision that promoted it
    <output>/models/<key>/versions/<run-name>/training_hashes.txt  sha256 of each image it was trained on
    <output>/models/<key>/champion -> versions/<run-name>          relative symlink to the model in force
    <output>/models/<key>/.promotion.lock                          serialises promotions

The rule (`RULE`): the challenger replaces the champion when its validation accuracy is higher, or equal
with a strictly lower validation loss (mean cross-entropy); on a full tie the champion stays. Both models are
scored on the same raw validation pixels, each through the normaliser stored in its own checkpoint: the
challenger's validation images less those the champion was trained on (matched by content hash, before
augmentation), since another seed, validation fraction or data set splits differently. When every validation
image was in the champion's training data, the champion stays ("not comparable"). A champion of the same
folder trained on other classes or another image shape (the folder's classes changed) cannot be compared: it
is replaced, and the reason says so.

Promotion is atomic for readers: the version folder is written completely under a temporary name and renamed
into place, then a new symlink made beside `champion` is moved over it with `os.replace` (one rename(2)).
`champion` therefore always resolves to a complete model, the old one until the instant of the swap and the
new one after it; old versions are kept. Concurrent promotions are serialised by a lock file (POSIX `flock`).
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import secrets
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from flows.pipeline.classifier import Classifier
from flows.store.layout import CHAMPION_MODEL, champion_link, check_folder_name, versions_dir
from mlp.atomic import fsync_path, point_symlink, write_bytes

PROMOTION_RECORD = "promotion.json"
TRAINING_HASHES = "training_hashes.txt"  # sha256 of the version's training images, sorted, one a line
RULE = ("the challenger is promoted when its validation accuracy is higher than the champion's, or equal "
        "with a strictly lower validation loss; on a tie the champion stays")
_LOCK = ".promotion.lock"


@dataclass(frozen=True)
class Verdict:
    """The outcome of scoring a challenger against the champion. `champion_*` are None when there was no
    champion, or it was incompatible; both models' scores are None when no validation image was left to
    compare them on."""

    promoted: bool
    reason: str
    challenger_accuracy: float | None
    challenger_loss: float | None
    champion_accuracy: float | None
    champion_loss: float | None
    n_samples: int  # validation images the scores were measured on
    n_excluded: int  # the challenger's validation images left out: the champion was trained on them


@dataclass(frozen=True)
class Promotion(Verdict):
    """One promotion decision: the verdict, the runs it concerned and `champion_path`, the model file in force
    after the decision (`models/<key>/versions/<run>/model.npz`)."""

    champion_run: str | None
    champion_path: Path
    challenger_run: str


def current_champion(models: str | Path) -> Path | None:
    """The version folder `<models>/champion` points to, or None when nothing was promoted yet; `models` is a
    data folder's models folder, `<output>/models/<key>` (`flows.store.layout.models_dir`).

    Raises ValueError when `champion` exists but is not a symlink, FileNotFoundError when it points to a
    folder without a model or its training hashes (both need a person: mlpflow never deletes a model it did
    not write)."""
    link = champion_link(models)
    if not link.is_symlink():
        if link.exists():
            raise ValueError(f"{link} exists but is not a symlink; mlpflow keeps the champion as a link to "
                             "versions/<run-name>: move it away and run again")
        return None
    target = link.resolve()
    for name in (CHAMPION_MODEL, TRAINING_HASHES):
        if not (target / name).is_file():
            raise FileNotFoundError(f"{link} points to {target}, which holds no {name}; remove the link (the "
                                    "next promotion then starts afresh) or restore the folder")
    return target


def training_hashes(version: Path) -> np.ndarray:
    """The sha256 strings (k,) of the images the model in `version` (a version folder) was trained on."""
    return np.array((Path(version) / TRAINING_HASHES).read_text(encoding="ascii").split(), dtype=str)


def decide(challenger: tuple[float, float], champion: tuple[float, float]) -> tuple[bool, str]:
    """Apply `RULE` to (accuracy, loss) pairs: (challenger wins, why)."""
    (acc, loss), (champ_acc, champ_loss) = challenger, champion
    if acc != champ_acc:
        relation = ">" if acc > champ_acc else "<"
        return acc > champ_acc, f"challenger accuracy {acc:.2%} {relation} champion {champ_acc:.2%}"
    relation = "<" if loss < champ_loss else ">="
    return loss < champ_loss, (f"equal accuracy {acc:.2%}; challenger loss {loss:.4f} {relation} "
                               f"champion {champ_loss:.4f}")


def incompatibility(champion: Classifier, challenger: Classifier) -> str | None:
    """Why the two models cannot be compared on one validation set (other classes or image shape), or None."""
    reasons = []
    if champion.class_names != challenger.class_names:
        reasons.append(f"classes {list(champion.class_names)} vs {list(challenger.class_names)}")
    if champion.image_shape != challenger.image_shape:
        reasons.append(f"image shape {champion.image_shape} vs {challenger.image_shape}")
    return "; ".join(reasons) or None


def promote_if_better(challenger: Path, X_val: np.ndarray, y_val: np.ndarray, models: Path,
                      run_name: str, *, val_hashes: np.ndarray, train_hashes: np.ndarray) -> Promotion:
    """Score the challenger checkpoint and the current champion on raw validation pixels X_val (n, h*w) with
    labels y_val (n,) and content hashes val_hashes (n,), leaving out the images the champion was trained on,
    and promote the challenger under `run_name` when `RULE` says so (or when there is no comparable
    champion), storing train_hashes (k,), the sha256 of its own training images, with it. `models` is the
    data folder's models folder, `<output>/models/<key>` (`flows.store.layout.models_dir`); nothing in it
    changes when the champion stays or anything fails."""
    challenger, models = Path(challenger), Path(models)
    check_folder_name(run_name, "run_name")
    contender = Classifier.from_checkpoint(challenger)
    X_val, y_val, val_hashes = _check_validation(X_val, y_val, val_hashes, contender)
    train_hashes = _check_hashes(train_hashes, "train_hashes")
    models.mkdir(parents=True, exist_ok=True)
    with _locked(models / _LOCK):
        folder = current_champion(models)
        verdict = _judge(folder, contender, X_val, y_val, val_hashes)
        in_force = versions_dir(models).resolve() / run_name if verdict.promoted else folder
        decision = Promotion(**asdict(verdict), champion_run=folder.name if folder else None,
                             champion_path=in_force / CHAMPION_MODEL, challenger_run=run_name)
        if decision.promoted:
            _install(challenger, decision, train_hashes)
            point_symlink(champion_link(models), Path("versions") / run_name)
    return decision




# ------------------------------------------------------------------------------------------------ internals
def _judge(folder: Path | None, contender: Classifier, X_val: np.ndarray, y_val: np.ndarray,
           val_hashes: np.ndarray) -> Verdict:
    """The decision against the champion in `folder` (None: none), on the validation images it never saw."""
    if folder is None:
        reason = "no champion yet: the challenger becomes the first champion"
        return _unopposed(contender, X_val, y_val, reason)
    incumbent = Classifier.from_checkpoint(folder / CHAMPION_MODEL)
    problem = incompatibility(incumbent, contender)
    if problem:
        return _unopposed(contender, X_val, y_val,
                          f"champion {folder.name} cannot be compared ({problem}): replaced")
    unseen = ~np.isin(val_hashes, training_hashes(folder))
    n, n_excluded = len(y_val), int(np.count_nonzero(~unseen))
    if n_excluded == n:
        reason = f"not comparable: all {n} validation images were in the champion's training data"
        return Verdict(False, reason, None, None, None, None, 0, n_excluded)
    X, y = X_val[unseen], y_val[unseen]
    loss, accuracy = contender.score(X, y)
    champion_loss, champion_acc = incumbent.score(X, y)
    promoted, reason = decide((accuracy, loss), (champion_acc, champion_loss))
    return Verdict(promoted, reason, accuracy, loss, champion_acc, champion_loss, len(y), n_excluded)


def _unopposed(contender: Classifier, X_val: np.ndarray, y_val: np.ndarray, reason: str) -> Verdict:
    """Promotion without a comparable champion: the challenger scored on the whole validation set."""
    loss, accuracy = contender.score(X_val, y_val)
    return Verdict(True, reason, accuracy, loss, None, None, len(y_val), 0)






def _check_validation(X_val: np.ndarray, y_val: np.ndarray, val_hashes: np.ndarray,
                      model: Classifier) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    X_val, y_val = np.asarray(X_val), np.asarray(y_val)
    n_pixels = model.image_shape[0] * model.image_shape[1]
    if X_val.ndim != 2 or X_val.shape[1] != n_pixels or len(X_val) == 0:
        raise ValueError(f"X_val must be raw pixels of shape (n > 0, {n_pixels}) for images "
                         f"{model.image_shape}, got {X_val.shape}")
    if y_val.shape != (len(X_val),):
        raise ValueError(f"y_val must have shape ({len(X_val)},) to match X_val, got {y_val.shape}")
    val_hashes = _check_hashes(val_hashes, "val_hashes")
    if val_hashes.shape != y_val.shape:
        raise ValueError(f"val_hashes must have shape ({len(X_val)},) to match X_val, got {val_hashes.shape}")
    return X_val, y_val, val_hashes


def _check_hashes(hashes: np.ndarray, name: str) -> np.ndarray:
    """`hashes` as a 1-D str array of sha256 hex digests (64 characters 0-9a-f); ValueError otherwise."""
    hashes = np.asarray(hashes)
    if hashes.ndim != 1 or not (hashes.size == 0 or np.issubdtype(hashes.dtype, np.str_)):
        raise ValueError(f"{name} must be a 1-D array of sha256 hex strings, got shape {hashes.shape} "
                         f"dtype {hashes.dtype}")
    bad = [h for h in hashes.tolist() if len(h) != 64 or h.strip("0123456789abcdef")]
    if bad:
        raise ValueError(f"{name} must hold sha256 hex digests (64 characters 0-9a-f); got {bad[0]!r}")
    return hashes.astype(str)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _record(source: Path, digest: str, p: Promotion) -> bytes:
    fields = asdict(p) | {"champion_path": str(p.champion_path), "source": str(source.resolve()),
                          "sha256": digest, "rule": RULE,
                          "promoted_at": datetime.now(timezone.utc).isoformat(timespec="seconds")}
    return json.dumps(fields, indent=2, ensure_ascii=False).encode("utf-8")


def _install(challenger: Path, p: Promotion, train_hashes: np.ndarray) -> None:
    """Write versions/<run>/ (model.npz, promotion.json, training_hashes.txt) under a temporary name, then
    rename it into place.

    A version folder left by an interrupted promotion of the very same model (same bytes) is reused; one
    holding another model raises FileExistsError, since run names must be unique."""
    dest = p.champion_path.parent
    digest = _sha256(challenger)
    hashes = "".join(f"{h}\n" for h in sorted(set(train_hashes.tolist()))).encode("ascii")
    if dest.exists():
        existing = dest / CHAMPION_MODEL
        if not (existing.is_file() and _sha256(existing) == digest):
            raise FileExistsError(f"{dest} already holds another model; run names must be unique")
        write_bytes(dest / TRAINING_HASHES, hashes)
        write_bytes(dest / PROMOTION_RECORD, _record(challenger, digest, p))
        return
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.parent / f".{dest.name}.{secrets.token_hex(4)}.partial"
    tmp.mkdir()
    try:
        shutil.copyfile(challenger, tmp / CHAMPION_MODEL)
        (tmp / TRAINING_HASHES).write_bytes(hashes)
        (tmp / PROMOTION_RECORD).write_bytes(_record(challenger, digest, p))
        for name in (CHAMPION_MODEL, TRAINING_HASHES, PROMOTION_RECORD):
            fsync_path(tmp / name)
        os.rename(tmp, dest)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)
    fsync_path(dest.parent)






@contextmanager
def _locked(path: Path) -> Iterator[None]:
    with open(path, "ab") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
