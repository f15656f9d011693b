"""Scanning a data root that fights back: symlink loops and links between class folders, unreadable folders
and files, decompression bombs, and a property test of ingest over random small trees."""

from __future__ import annotations

import json
import os
import shutil
import stat
import struct
import subprocess
import sys
import tempfile
import warnings
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from PIL import Image

from mlp.data import files, folders, images
from mlp.data.quality import DatasetError
from tests.data_trees import SHAPE, clean_root, glyph, save_1bit

REPO = Path(__file__).resolve().parents[1]


def _skipped(tree_or_report) -> dict[str, str]:
    return {s.path: s.reason for s in tree_or_report.skipped}


def test_a_symlink_loop_is_skipped_and_named(tmp_path):
    clean_root(tmp_path, per_class=2, classes=("a", "b"))
    (tmp_path / "train" / "a" / "loop").symlink_to("..")  # ln -s .. train/a/loop: back to train/
    (tmp_path / "train" / "a" / "deep").mkdir()
    (tmp_path / "train" / "a" / "deep" / "up").symlink_to("../../a")  # back to its own class folder
    (tmp_path / "train" / "b" / "self").symlink_to("self")  # a link to itself: ELOOP on stat
    (tmp_path / "train" / "b" / "root").symlink_to(tmp_path.parent)  # a folder holding the data root
    (tmp_path / "train" / "b" / "slash").symlink_to("/")
    (tmp_path / "train" / "self").symlink_to("self")  # beside the class folders: neither a class nor a file
    tree = folders.walk(tmp_path)
    assert [e.path for e in tree.entries] == [f"train/{c}/{i}.bmp" for c in "ab" for i in (0, 1)]
    reasons = _skipped(tree)
    assert reasons["train/a/loop/"] == "symlink loop: links back to train/"
    assert reasons["train/a/deep/up/"] == "symlink loop: links back to train/a/"
    assert reasons["train/b/self"] == "cannot read: Too many levels of symbolic links"
    assert reasons["train/b/root/"] == f"symlink loop: links back to {tmp_path.parent}"
    assert reasons["train/b/slash/"] == "symlink loop: links back to /"
    assert reasons["train/self"] == "cannot read: Too many levels of symbolic links"


def test_a_link_to_a_sibling_class_folder_is_not_followed_in_either_order(tmp_path):
    clean_root(tmp_path, per_class=1, classes=("a", "b", "c"))
    (tmp_path / "train" / "a" / "to-b").symlink_to("../b")  # before b in the walk
    (tmp_path / "train" / "c" / "to-b").symlink_to("../b")  # after it
    tree = folders.walk(tmp_path)
    assert [e.path for e in tree.entries] == ["train/a/0.bmp", "train/b/0.bmp", "train/c/0.bmp"]
    reasons = _skipped(tree)
    for link in ("train/a/to-b/", "train/c/to-b/"):
        assert reasons[link] == (
            "symbolic link to train/b/ inside the data root: not followed (its files are read there)")
    result = files.ingest(tmp_path, tmp_path.parent / "ds.parquet")  # the run goes on; the report names them
    assert result.quality.n_images == 3
    assert {"train/a/to-b/", "train/c/to-b/"} <= set(_skipped(result.quality))


def test_a_class_folder_that_is_a_link_into_the_root_is_an_empty_class(tmp_path):
    clean_root(tmp_path / "raw", per_class=1, classes=("a", "b"))
    (tmp_path / "raw" / "train" / "c").symlink_to("a")
    with pytest.raises(DatasetError, match=r"empty class folder 'train/c'.*symbolic link to train/a/"):
        files.ingest(tmp_path / "raw", tmp_path / "ds.parquet")


def test_links_out_of_the_root_are_followed_once(tmp_path):
    clean_root(tmp_path / "raw", per_class=1, classes=("a", "b"))
    save_1bit(tmp_path / "elsewhere" / "x.bmp", glyph(40))
    (tmp_path / "elsewhere" / "again").symlink_to(".")  # a loop outside the root
    (tmp_path / "raw" / "train" / "a" / "more").symlink_to(tmp_path / "elsewhere")
    (tmp_path / "raw" / "train" / "b" / "same").symlink_to(tmp_path / "elsewhere")
    tree = folders.walk(tmp_path / "raw")
    assert "train/a/more/x.bmp" in [e.path for e in tree.entries]
    reasons = _skipped(tree)
    assert reasons["train/a/more/again/"] == f"symlink loop: links back to {tmp_path / 'elsewhere'}"
    assert reasons["train/b/same/"] == "links to a folder already read, at train/a/more/"


# --- Unreadable folders and files. Root bypasses file permissions (CAP_DAC_OVERRIDE), so as root the scan
# runs in a child process whose capability bounding set lacks CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH
# (setpriv): root then obeys the owner's mode bits like anyone. Switching to 'nobody' instead does not work
# here: the interpreter lives under /root, which nobody may not enter.

_CHILD = """
import json, sys
from mlp.data import files, folders
from mlp.data.quality import DatasetError
out = []
for op, root, parquet in json.loads(sys.argv[1]):
    try:
        if op == "walk":
            tree = folders.walk(root)
            skipped = {s.path: s.reason for s in tree.skipped}
            out.append({"skipped": skipped, "entries": [e.path for e in tree.entries]})
        else:
            report = files.ingest(root, parquet).quality
            out.append({"skipped": {s.path: s.reason for s in report.skipped}, "n_images": report.n_images})
    except (DatasetError, ValueError, OSError) as exc:
        out.append({"error": type(exc).__name__, "message": str(exc)})
print(json.dumps(out))
"""


def _run_unprivileged(jobs: list[tuple[str, Path, Path | None]]) -> list[dict]:
    """Run each (op "walk" or "ingest", root, parquet) where file permissions apply; the outcomes."""
    args = json.dumps([[op, str(root), str(out) if out else None] for op, root, out in jobs])
    command = [sys.executable, "-c", _CHILD, args]
    if os.geteuid() == 0:
        setpriv = shutil.which("setpriv")
        if setpriv is None:
            pytest.skip("root bypasses file permissions, and setpriv (util-linux) is missing")
        command = [setpriv, "--bounding-set", "-dac_override,-dac_read_search", *command]
    done = subprocess.run(command, capture_output=True, text=True, cwd=REPO, timeout=120)
    if done.returncode != 0:
        pytest.skip(f"cannot run the scan without file-permission privileges: {done.stderr.strip()[-300:]}")
    return json.loads(done.stdout)


def _locked(path: Path) -> None:
    path.chmod(0)


@pytest.fixture
def permissions_apply(tmp_path):
    """Check that a chmod 000 file is unreadable to the unprivileged child; restore modes afterwards."""
    probe = tmp_path / "probe"
    (probe / "train" / "1").mkdir(parents=True)
    _locked(probe / "train")
    outcome = _run_unprivileged([("walk", probe, None)])
    if outcome[0].get("error") != "PermissionError":
        pytest.skip(f"file permissions are not enforced here (a chmod 000 folder was read: {outcome[0]})")
    yield
    for dirpath, dirnames, filenames in os.walk(tmp_path):  # top-down: a folder is opened before its walk
        for name in dirnames + filenames:
            if not os.path.islink(os.path.join(dirpath, name)):
                os.chmod(os.path.join(dirpath, name), stat.S_IRWXU)


def test_unreadable_folders_and_files(tmp_path, permissions_apply):
    # A: an unreadable subfolder, an unreadable image and an unreadable class folder.
    a = tmp_path / "a"
    clean_root(a, per_class=2, classes=("1", "2", "3"))
    save_1bit(a / "train" / "2" / "sub" / "s.bmp", glyph(30))
    _locked(a / "train" / "2" / "sub")
    _locked(a / "train" / "1" / "0.bmp")
    _locked(a / "train" / "3")
    save_1bit(a / "test" / "t.bmp", glyph(31))
    _locked(a / "test")  # the unlabelled test/ folder: skipped and named like a class's subfolder
    # B: an unreadable train/; C: an unreadable data root; D: an unreadable labels.txt.
    b, c, d = tmp_path / "b", tmp_path / "c", tmp_path / "d"
    for root in (b, c, d):
        clean_root(root, per_class=1)
    _locked(b / "train")
    _locked(c)
    (d / "labels.txt").write_text("1 one\n", encoding="utf-8")
    _locked(d / "labels.txt")
    out = tmp_path / "out"
    walked, ingested, no_train, no_root, no_labels = _run_unprivileged([
        ("walk", a, None), ("ingest", a, out / "a.parquet"), ("ingest", b, out / "b.parquet"),
        ("ingest", c, out / "c.parquet"), ("ingest", d, out / "d.parquet"),
    ])
    assert walked["skipped"] == {
        "train/2/sub/": "cannot read folder: Permission denied",
        "train/3/": "cannot read folder: Permission denied",
        "test/": "cannot read folder: Permission denied",
    }
    assert "train/1/0.bmp" in walked["entries"]  # it can be listed; reading it fails at decoding
    # The unreadable class folder is an empty class: the run stops with one line naming it and the reason.
    assert ingested["error"] == "DatasetError"
    assert "empty class folder 'train/3'" in ingested["message"]
    assert "train/3/: cannot read folder: Permission denied" in ingested["message"]
    assert no_train == {"error": "PermissionError",
                        "message": f"cannot read the train/ folder {b / 'train'}: Permission denied"}
    assert no_root == {"error": "PermissionError",
                       "message": f"cannot read the data root {c}: Permission denied"}
    assert no_labels == {"error": "PermissionError", "message": (
        f"cannot read {d / 'labels.txt'}: Permission denied; make it readable, or remove it")}
    # Without the unreadable class, the run goes on and the report names what it could not read.
    os.chmod(a / "train" / "3", stat.S_IRWXU)
    shutil.rmtree(a / "train" / "3")
    (ingested,) = _run_unprivileged([("ingest", a, out / "a.parquet")])
    assert ingested["n_images"] == 3
    assert ingested["skipped"] == {
        "train/1/0.bmp": "cannot read file: Permission denied",
        "train/2/sub/": "cannot read folder: Permission denied",
        "test/": "cannot read folder: Permission denied",
    }


# --- Decompression bombs.

def _bmp_header(width: int, height: int) -> bytes:
    """The first bytes of an 8-bit BMP claiming width x height pixels (its pixels are missing)."""
    info = struct.pack("<IiiHHIIiiII", 40, width, height, 1, 8, 0, 0, 2835, 2835, 0, 0)
    return b"BM" + struct.pack("<IHHI", 14 + 40 + 16, 0, 0, 14 + 40) + info + bytes(16)


def test_a_decompression_bomb_is_skipped_with_the_reason_and_nothing_printed(tmp_path):
    (tmp_path / "error.bmp").write_bytes(_bmp_header(20_000, 20_000))  # over twice Pillow's limit: an error
    (tmp_path / "warning.bmp").write_bytes(_bmp_header(10_000, 10_000))  # over the limit: a warning
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        big = images.read_file(tmp_path / "error.bmp")
        large = images.read_file(tmp_path / "warning.bmp")
    assert caught == []
    assert big.pixels is None and big.error == "image too large: 400000000 pixels (decompression bomb guard)"
    assert large.error == "image too large: 100000000 pixels (decompression bomb guard)"


def test_a_bomb_in_a_class_folder_is_folded_into_the_quality_report(tmp_path, monkeypatch):
    clean_root(tmp_path / "raw", per_class=2, classes=("1", "2"))
    save_1bit(tmp_path / "raw" / "train" / "2" / "big.bmp", glyph(9, (SHAPE[0] * 2, SHAPE[1])))  # 96 pixels
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 60)  # 48-pixel images pass, 96 warns
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = files.ingest(tmp_path / "raw", tmp_path / "ds.parquet")
    assert not [w for w in caught if issubclass(w.category, Image.DecompressionBombWarning)]
    assert result.quality.n_images == 4
    reason = "image too large: 96 pixels (decompression bomb guard)"
    assert _skipped(result.quality) == {"train/2/big.bmp": reason}
    decoded = images.read_file(tmp_path / "raw" / "train" / "1" / "0.bmp")
    np.testing.assert_array_equal(decoded.pixels, glyph(0))


def test_load_arrays_never_passes_on_numpys_pickle_advice(tmp_path):
    (tmp_path / "text.npz").write_text("not arrays\n")
    np.savez(tmp_path / "objects.npz", a=np.array([None, 1], dtype=object))
    for name, words in [("text.npz", "not a .npz of arrays"), ("objects.npz", "holds object (pickled)")]:
        with pytest.raises(ValueError) as caught:
            files.load_arrays(tmp_path / name)
        assert str(caught.value).startswith(str(tmp_path / name)) and words in str(caught.value)
        assert "allow_pickle" not in str(caught.value) and "unsafe" not in str(caught.value)


# --- Property: ingest over random small trees.

_NAMES = st.sampled_from(["1", "2", "10", "a", "B", "博", "x y"])
_KINDS = st.sampled_from(["small"] * 6 + ["tall", "random", "empty", "text", "nested", "loop", "sibling",
                                          "file-link", "broken-link", "hidden"])


def _write(folder: Path, i: int, kind: str, data: st.DataObject, siblings: list[str]) -> None:
    name = f"f{i}"
    if kind == "small":
        save_1bit(folder / f"{name}.bmp", glyph(data.draw(st.integers(0, 5), label="seed")))
    elif kind == "tall":
        save_1bit(folder / f"{name}.bmp", glyph(i, (SHAPE[0] + 1, SHAPE[1])))
    elif kind == "random":
        (folder / f"{name}.bmp").write_bytes(data.draw(st.binary(max_size=64), label="bytes"))
    elif kind == "empty":
        (folder / f"{name}.bmp").write_bytes(b"")
    elif kind == "text":
        (folder / f"{name}.txt").write_text("notes\n")
    elif kind == "nested":
        save_1bit(folder / name / "deeper" / "n.bmp", glyph(i + 10))
    elif kind == "loop":
        (folder / name).symlink_to("..")
    elif kind == "sibling":
        (folder / name).symlink_to(Path("..") / data.draw(st.sampled_from(siblings), label="sibling"))
    elif kind == "file-link":
        (folder / f"{name}.bmp").symlink_to(Path("..") / siblings[0] / "f0.bmp")  # maybe broken
    elif kind == "broken-link":
        (folder / f"{name}.bmp").symlink_to("absent.bmp")
    elif kind == "hidden":
        save_1bit(folder / ".hidden" / f"{name}.bmp", glyph(i))


def _named(path: str, report, dataset_paths: set[str]) -> bool:
    """Whether a file is in the data set, or it or a folder holding it is named in the report."""
    if path in dataset_paths:
        return True
    named = {s.path for s in report.skipped} | {w.path for w in report.wrong_size}
    return path in named or any(p.endswith("/") and path.startswith(p) for p in named)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(classes=st.lists(_NAMES, min_size=1, max_size=3, unique=True), data=st.data())
def test_ingest_of_random_trees_never_raises_but_a_dataset_error_and_names_every_file(classes, data):
    with tempfile.TemporaryDirectory() as tmp:
        root, out = Path(tmp) / "raw", Path(tmp) / "ds.parquet"
        for name in classes:
            (root / "train" / name).mkdir(parents=True)
        for name in classes:
            kinds = data.draw(st.lists(_KINDS, min_size=1, max_size=5), label=f"files of {name}")
            for i, kind in enumerate(kinds):
                _write(root / "train" / name, i, kind, data, classes)
        try:
            result = files.ingest(root, out)
        except DatasetError as exc:  # the documented cases: an empty class folder, no usable image
            assert exc.report.errors and all(
                e.startswith(("empty class folder", "no usable image")) for e in exc.report.errors)
            assert not out.exists()
            event("DatasetError")
            return
        event("ingested")
        dataset = files.read_dataset(out)
        in_data = set(dataset.paths.tolist())
        assert len(in_data) == len(dataset.paths) == result.quality.n_images
        for dirpath, dirnames, filenames in os.walk(root / "train"):
            for name in filenames + [d for d in dirnames if os.path.islink(os.path.join(dirpath, d))]:
                rel = Path(dirpath, name).relative_to(root).as_posix()
                if rel.count("/") < 2:
                    continue  # train/<class> itself
                is_dir = os.path.isdir(os.path.join(dirpath, name)) and name not in filenames
                shown = rel + "/" if is_dir else rel
                reached = any(p.startswith(shown) for p in in_data) if is_dir else False
                assert reached or _named(shown, result.quality, in_data), (shown, result.quality.skipped)
        again = files.ingest(root, out)  # idempotent: nothing to redo, the same data set
        assert not again.written and again.fingerprint == result.fingerprint
        assert again.quality == result.quality
        np.testing.assert_array_equal(files.read_dataset(out).X, dataset.X)
