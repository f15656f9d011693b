"""mlp.data.folders: walking a data root, natural label order, labels.txt, fingerprints."""

from __future__ import annotations

import os

import pytest

from mlp.data import folders
from tests.data_trees import clean_root, glyph, save_1bit


def test_natural_order():
    names = ["10", "2", "1", "img12.bmp", "img2.bmp", "B", "a", "11"]
    assert sorted(names, key=folders.natural_key) == ["1", "2", "10", "11", "a", "B", "img2.bmp", "img12.bmp"]
    # Characters that are digits but not decimal (circled, superscript) sort as text instead of crashing.
    assert sorted(["②", "①", "x²", "3"], key=folders.natural_key) == ["3", "x²", "①", "②"]


def test_walk_finds_classes_files_and_strays(tmp_path):
    clean_root(tmp_path, per_class=2, classes=("2", "10", "1"))
    save_1bit(tmp_path / "train" / "2" / "deeper" / "x.bmp", glyph(9))
    (tmp_path / "train" / "stray.bmp").write_bytes(b"")
    (tmp_path / "train" / "1" / "README").write_text("hi")
    save_1bit(tmp_path / "test" / "t.BMP", glyph(8))
    (tmp_path / "test" / "gone.bmp").symlink_to(tmp_path / "absent.bmp")
    save_1bit(tmp_path / "train" / ".ipynb_checkpoints" / "c.bmp", glyph(7))  # tools' folders: not classes
    save_1bit(tmp_path / "train" / "__MACOSX" / "1" / "m.bmp", glyph(6))
    save_1bit(tmp_path / "train" / "1" / ".cache" / "h.bmp", glyph(5))
    tree = folders.walk(tmp_path)
    assert tree.class_names == ("1", "2", "10")
    assert [e.path for e in tree.entries] == [
        "train/1/0.bmp", "train/1/1.bmp", "train/2/0.bmp", "train/2/1.bmp", "train/2/deeper/x.bmp",
        "train/10/0.bmp", "train/10/1.bmp", "test/t.BMP",
    ]
    assert [(e.split, e.label) for e in tree.entries][-2:] == [("train", "10"), ("test", None)]
    entry = tree.entries[0]
    st = (tmp_path / entry.path).stat()
    assert (entry.size, entry.mtime_ns) == (st.st_size, st.st_mtime_ns)
    reasons = {s.path: s.reason for s in tree.skipped}
    assert set(reasons) == {
        "train/stray.bmp", "train/1/README", "test/gone.bmp",
        "train/.ipynb_checkpoints/", "train/__MACOSX/", "train/1/.cache/",
    }
    assert "hidden or system folder" in reasons["train/__MACOSX/"]
    assert "broken symbolic link" in reasons["test/gone.bmp"]
    assert "class folder" in reasons["train/stray.bmp"]


def test_walk_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        folders.walk(tmp_path / "absent")
    (tmp_path / "file").write_text("")
    with pytest.raises(NotADirectoryError):
        folders.walk(tmp_path / "file")
    with pytest.raises(ValueError, match="no train/ folder"):
        folders.walk(tmp_path)
    (tmp_path / "train").mkdir()
    with pytest.raises(ValueError, match="no class folders"):
        folders.walk(tmp_path)


def test_extensions():
    assert folders.normalise_extensions(["bmp", ".PNG"]) == (".bmp", ".png")
    assert folders.normalise_extensions(".bmp") == (".bmp",)
    assert folders.normalise_extensions(None) is None
    for bad in [[], [""], ["."], [3]]:
        with pytest.raises(ValueError, match="extensions"):
            folders.normalise_extensions(bad)


def test_display_names(tmp_path):
    path = tmp_path / "labels.txt"
    assert folders.read_display_names(path, ["1", "2"]) == ("1", "2")  # no file: folder names
    path.write_text("\ufeff1 博\n# comment\n\n3 New York\n", encoding="utf-8")
    assert folders.read_display_names(path, ["1", "2", "3"]) == ("博", "2", "New York")
    path.write_text("1 博\n1 学\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"labels.txt:2.*twice"):
        folders.read_display_names(path, ["1"])
    path.write_text("1\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"labels.txt:1"):
        folders.read_display_names(path, ["1"])
    path.write_bytes("1 博\n".encode("gbk"))
    with pytest.raises(ValueError, match=r"labels.txt is not UTF-8"):
        folders.read_display_names(path, ["1"])


def test_fingerprint_follows_files_labels_and_settings(tmp_path):
    clean_root(tmp_path, per_class=1)
    settings = {"resize": None}
    first = folders.fingerprint(folders.walk(tmp_path), settings)
    assert folders.fingerprint(folders.walk(tmp_path), settings) == first
    assert folders.fingerprint(folders.walk(tmp_path), {"resize": [2, 2]}) != first
    (tmp_path / "labels.txt").write_text("1 one\n", encoding="utf-8")
    second = folders.fingerprint(folders.walk(tmp_path), settings)
    assert second != first
    victim = tmp_path / "train" / "1" / "0.bmp"
    st = victim.stat()
    os.utime(victim, ns=(st.st_atime_ns, st.st_mtime_ns + 1))
    assert folders.fingerprint(folders.walk(tmp_path), settings) != second
