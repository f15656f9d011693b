"""The champion: one promoted model per data folder, replaced only by a challenger shown to be better.

Each data folder has its own models folder, keyed like its ingested data set (`flows.store.layout.source_key`:
the data set is `<output>/datasets/<key>.parquet`), so a run on other data (the digits demo, say) never
competes with another folder's champion:

    <output>/models/<key>/versions/<run-name>/model.npz            every model ever promoted, never changed
    <output>/models/<key>/versions/<run-name>/promotion.json       the decision that promoted it
    <output>/models/<key>/versions/<run-name>/training_hashes.txt  sha256 of each image it was trained on
    <output>/models/<key>/champion -> versions/<run-name>          relative symlink to the model in force
    <output>/models/<key>/.promotion.lock                          serialises promotions

The rule (`RULE`): both models are scored on the same raw validation pixels, each through the normaliser
stored in its own checkpoint: the challenger's validation images less those the champion was trained on
(matched by content hash, before augmentation), since another seed, validation fraction or data set splits
differently. The challenger replaces the champion only when they were compared on at least `min_samples`
images, it is right on more of them, and McNemar's exact test (`flows.store.mcnemar`) on the images where
the two disagree gives p < `alpha`: a difference that large is unlikely to be chance. Otherwise the champion
stays; a tie in accuracy never promotes, whatever the losses (recorded for information). When every
validation image was in the champion's training data, the champion stays ("nothing to compare on"). A
champion of the same folder trained on other classes or another image shape (the folder's classes changed)
cannot be compared: it is replaced, and the reason says so. With no champion yet, the challenger becomes
the first.

`promotion.json` records the decision: the counts, the test, its p-value, `min_samples`, `alpha`, both
models' scores, `champion_run`/`champion_path` (the model in force after the decision: the new one) and
`previous_champion_run`. Records written before `format` 2 name the previous champion in `champion_run`;
mlpflow reads no record back (the champion is the `champion` link), so both stay valid on disk.

Promotion is atomic for readers: the version folder is written completely under a temporary name and renamed
into place, then a new symlink made beside `champion` is moved over it with `os.replace` (one rename(2)).
`champion` therefore always resolves to a complete model, the old one until the instant of the swap and the
new one after it; old versions are kept. Concurrent promotions are serialised by a lock file (POSIX `flock`).
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import shutil
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from flows.pipeline.classifier import Classifier
from flows.store.layout import CHAMPION_MODEL, champion_link, check_folder_name, versions_dir
from flows.store.locks import locked
from flows.store.mcnemar import TEST_NAME, PairedCounts
from flows.store.promotion_rule import RULE, decide
from mlp.atomic import fsync_path, point_symlink, write_bytes

PROMOTION_RECORD = "promotion.json"
RECORD_FORMAT = 2  # promotion.json's `format`; since 2, champion_run names the model in force after it
TRAINING_HASHES = "training_hashes.txt"  # sha256 of the version's training images, sorted, one a line
PROMOTION_LOCK = ".promotion.lock"  # serialises promotions and the pruning of versions


@dataclass(frozen=True)
class Verdict:
    """The outcome of scoring a challenger against the champion. `champion_*` scores are None when there was
    no champion, or it was incompatible; both models' scores are None when no validation image was left to
    compare them on. `counts`, `p_value` and `significance_test` are None when no comparison was made."""

    promoted: bool
    reason: str  # why, in words, without the decision: "compared on 21 images, fewer than the 200 required"
    challenger_accuracy: float | None
    challenger_loss: float | None
    champion_accuracy: float | None
    champion_loss: float | None
    n_samples: int  # validation images the scores were measured on
    n_excluded: int  # the challenger's validation images left out: the champion was trained on them
    counts: PairedCounts | None  # the 2x2 table of right and wrong on the n_samples images
    p_value: float | None
    significance_test: str | None
    min_samples: int
    alpha: float


@dataclass(frozen=True)
class Promotion(Verdict):
    """One promotion decision: the verdict and the runs it concerned. `champion_run` and `champion_path`
    (`models/<key>/versions/<run>/model.npz`) name the model in force after the decision, the challenger's
    when it was promoted; `previous_champion_run` the champion before it (None: there was none)."""

    champion_run: str
    champion_path: Path
    challenger_run: str
    previous_champion_run: str | None

    def sentence(self) -> str:
        """The decision in one sentence, e.g. "Champion run-1 kept, challenger run-2 not promoted: compared
        on 21 images, fewer than the 200 required." (plain text: escape it for Markdown or HTML)."""
        if not self.promoted:
            head = f"Champion {self.champion_run} kept, challenger {self.challenger_run} not promoted"
        elif self.previous_champion_run is None:
            head = f"Challenger {self.challenger_run} promoted, the first champion"
        else:
            head = f"Challenger {self.challenger_run} promoted over champion {self.previous_champion_run}"
        return f"{head}: {self.reason}."


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


def incompatibility(champion: Classifier, challenger: Classifier) -> str | None:
    """Why the two models cannot be compared on one validation set (other classes or image shape), or None."""
    reasons = []
    if champion.class_names != challenger.class_names:
        reasons.append(f"classes {list(champion.class_names)} vs {list(challenger.class_names)}")
    if champion.image_shape != challenger.image_shape:
        reasons.append(f"image shape {champion.image_shape} vs {challenger.image_shape}")
    return "; ".join(reasons) or None


def promote_if_better(challenger: Path, X_val: np.ndarray, y_val: np.ndarray, models: Path, run_name: str,
                      *, val_hashes: np.ndarray, train_hashes: np.ndarray, min_samples: int,
                      alpha: float) -> Promotion:
    """Score the challenger checkpoint and the current champion on raw validation pixels X_val (n, h*w) with
    labels y_val (n,) and content hashes val_hashes (n,), leaving out the images the champion was trained on,
    and promote the challenger under `run_name` when `RULE` says so with `min_samples` (>= 1) and `alpha`
    (in (0, 1)), or when there is no comparable champion, storing train_hashes (k,), the sha256 of its own
    training images, with it. `models` is the data folder's models folder, `<output>/models/<key>`
    (`flows.store.layout.models_dir`); nothing in it changes when the champion stays or anything fails."""
    challenger, models = Path(challenger), Path(models)
    check_folder_name(run_name, "run_name")
    min_samples, alpha = _check_rule(min_samples, alpha)
    contender = Classifier.from_checkpoint(challenger)
    X_val, y_val, val_hashes = _check_validation(X_val, y_val, val_hashes, contender)
    train_hashes = _check_hashes(train_hashes, "train_hashes")
    models.mkdir(parents=True, exist_ok=True)
    with locked(models / PROMOTION_LOCK):
        folder = current_champion(models)
        verdict = _judge(folder, contender, X_val, y_val, val_hashes, min_samples, alpha)
        in_force = versions_dir(models).resolve() / run_name if verdict.promoted else folder
        decision = Promotion(**vars(verdict), champion_run=in_force.name,
                             champion_path=in_force / CHAMPION_MODEL, challenger_run=run_name,
                             previous_champion_run=folder.name if folder else None)
        if decision.promoted:
            _install(challenger, decision, train_hashes)
            point_symlink(champion_link(models), Path("versions") / run_name)
    return decision


# ------------------------------------------------------------------------------------------------ internals
def _judge(folder: Path | None, contender: Classifier, X_val: np.ndarray, y_val: np.ndarray,
           val_hashes: np.ndarray, min_samples: int, alpha: float) -> Verdict:
    """The decision against the champion in `folder` (None: none), on the validation images it never saw."""
    rule = {"min_samples": min_samples, "alpha": alpha}
    if folder is None:
        return _unopposed(contender, X_val, y_val, "no model was promoted on this data before", rule)
    incumbent = Classifier.from_checkpoint(folder / CHAMPION_MODEL)
    problem = incompatibility(incumbent, contender)
    if problem:
        return _unopposed(contender, X_val, y_val, f"the two cannot be compared ({problem})", rule)
    unseen = ~np.isin(val_hashes, training_hashes(folder))
    n, n_excluded = len(y_val), int(np.count_nonzero(~unseen))
    if n_excluded == n:
        reason = f"all {n} validation images were in the champion's training data: nothing to compare on"
        return Verdict(False, reason, None, None, None, None, 0, n_excluded, None, None, None, **rule)
    X, y = X_val[unseen], y_val[unseen]
    proba, champion_proba = contender.predict_proba(X), incumbent.predict_proba(X)
    loss, accuracy = contender.score_proba(proba, y)
    champion_loss, champion_acc = incumbent.score_proba(champion_proba, y)
    counts = PairedCounts.of(proba.argmax(axis=1) == y, champion_proba.argmax(axis=1) == y)
    promoted, p, reason = decide(counts, **rule)
    return Verdict(promoted, reason, accuracy, loss, champion_acc, champion_loss, len(y), n_excluded,
                   counts, p, TEST_NAME, **rule)


def _unopposed(contender: Classifier, X_val: np.ndarray, y_val: np.ndarray, reason: str,
               rule: dict[str, int | float]) -> Verdict:
    """Promotion without a comparable champion: the challenger scored on the whole validation set."""
    loss, accuracy = contender.score(X_val, y_val)
    return Verdict(True, reason, accuracy, loss, None, None, len(y_val), 0, None, None, None, **rule)


def _check_rule(min_samples: int, alpha: float) -> tuple[int, float]:
    """(min_samples, alpha) as int and float; ValueError naming the one out of range."""
    if not isinstance(min_samples, (int, np.integer)) or isinstance(min_samples, bool) or min_samples < 1:
        raise ValueError(f"min_samples must be an integer >= 1, got {min_samples!r}")
    if not isinstance(alpha, (float, int, np.floating)) or isinstance(alpha, bool) or not 0 < alpha < 1:
        raise ValueError(f"alpha must be a number in (0, 1), got {alpha!r}")
    return int(min_samples), float(alpha)


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
    fields = {"format": RECORD_FORMAT} | asdict(p) | {
        "champion_path": str(p.champion_path), "source": str(source.resolve()), "sha256": digest,
        "decision": p.sentence(), "rule": RULE,
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
