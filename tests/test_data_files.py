"""mlp.data.files: BMP folders to Parquet and back, incremental re-ingest, images for prediction, .npz
arrays."""

from __future__ import annotations

import hashlib
import json
import os
import time

import numpy as np
import pyarrow.parquet as pq
import pytest
from PIL import Image

import mlp
from mlp.data import files
from mlp.data.quality import DatasetError
from tests.data_trees import SHAPE, clean_root, glyph, listing, messy_root, save_1bit


@pytest.fixture
def messy(tmp_path):
    root = tmp_path / "raw"
    return root, messy_root(root)


def test_empty_class_folder_is_an_error_naming_it_and_writes_nothing(messy, tmp_path):
    root, _ = messy
    out = tmp_path / "ds.parquet"
    with pytest.raises(DatasetError, match="train/3") as caught:
        files.ingest(root, out)
    assert not out.exists()
    report = caught.value.report
    assert report.empty_classes == ("train/3",)
    assert {s.path for s in report.skipped} == {"train/1/broken.bmp", "train/1/notes.txt"}
    assert [w.path for w in report.wrong_size] == ["train/1/wide.bmp"]


def test_quality_report_of_a_messy_folder(messy, tmp_path):
    root, _ = messy
    (root / "train" / "3").rmdir()
    report = files.ingest(root, tmp_path / "ds.parquet").quality
    assert report.ok and report.image_shape == SHAPE
    assert report.counts == {"train": {"1": 3, "2": 2, "10": 3}}  # a, a-copy, rgb | b, p | c, d, b-as-10
    reasons = {s.path: s.reason for s in report.skipped}
    assert "not an image file" in reasons["train/1/notes.txt"] and ".txt" in reasons["train/1/notes.txt"]
    assert reasons["train/1/broken.bmp"].startswith("not a readable image")
    assert [(w.path, w.shape, w.expected) for w in report.wrong_size] == [("train/1/wide.bmp", (6, 9), SHAPE)]
    assert [set(g.paths) for g in report.duplicates] == [{"train/1/a.bmp", "train/1/a-copy.bmp"}]
    (conflict,) = report.label_conflicts
    assert dict(zip(conflict.paths, conflict.labels, strict=True)) == {
        "train/2/b.bmp": "2",
        "train/10/b-as-10.bmp": "10",
    }
    assert conflict.sha256 == hashlib.sha256((root / "train/2/b.bmp").read_bytes()).hexdigest()


def test_parquet_round_trip_gives_the_decoded_arrays(messy, tmp_path):
    root, expected = messy
    (root / "train" / "3").rmdir()
    out = tmp_path / "ds.parquet"
    result = files.ingest(root, out)
    ds = files.read_dataset(out)
    assert result.n_images == len(ds) == 8 and result.written
    assert ds.class_names == ("1", "2", "10")  # natural order, not 1, 10, 2
    assert ds.display_names == ("一", "二", "十")
    assert ds.image_shape == SHAPE and ds.X.dtype == np.uint8 and ds.y.dtype == np.int64
    assert "train/1/wide.bmp" not in ds.paths
    for x, label, path, digest in zip(ds.X, ds.y, ds.paths, ds.hashes, strict=True):
        assert np.abs(x.astype(float) - expected[path].ravel()).max() <= 1, path  # RGB/palette: luma within 1
        assert ds.class_names[label] == path.split("/")[1]
        assert digest == hashlib.sha256((root / path).read_bytes()).hexdigest()
    one_bit = list(ds.paths).index("train/10/c.bmp")
    np.testing.assert_array_equal(ds.X[one_bit], expected["train/10/c.bmp"].ravel())
    table = pq.read_table(out)
    assert table.column("display_name").to_pylist()[one_bit] == "十"
    assert set(table.column("split").to_pylist()) == {"train"}
    assert table.column("height").to_pylist()[one_bit] == SHAPE[0]
    meta = files.read_metadata(out)
    assert meta["class_names"] == ["1", "2", "10"] and meta["image_shape"] == list(SHAPE)
    assert meta["source_root"] == str(root.resolve()) and meta["version"] == mlp.__version__


def test_validation_and_test_folders(tmp_path):
    root = tmp_path / "raw"
    clean_root(root, per_class=2)
    save_1bit(root / "validation" / "2" / "v.bmp", glyph(50))
    save_1bit(root / "test" / "t.bmp", glyph(51))
    ds = files.read_dataset(files.ingest(root, tmp_path / "ds.parquet").path)
    assert list(ds.split) == ["train"] * 6 + ["validation", "test"]
    assert ds.y[-2] == ds.class_names.index("2") and ds.y[-1] == -1
    assert list(ds.where("validation").paths) == ["validation/2/v.bmp"]
    assert pq.read_table(tmp_path / "ds.parquet").column("label_name").to_pylist()[-1] is None


def test_validation_class_unknown_to_training_is_an_error(tmp_path):
    root = tmp_path / "raw"
    clean_root(root, per_class=1)
    save_1bit(root / "validation" / "99" / "v.bmp", glyph(50))
    with pytest.raises(ValueError, match="99"):
        files.ingest(root, tmp_path / "ds.parquet")


def test_bad_roots_and_options_are_clear_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="nowhere"):
        files.ingest(tmp_path / "nowhere", tmp_path / "ds.parquet")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="no train/ folder"):
        files.ingest(tmp_path / "empty", tmp_path / "ds.parquet")
    (tmp_path / "empty" / "train").mkdir()
    (tmp_path / "empty" / "train" / "stray.bmp").write_bytes(b"")
    with pytest.raises(ValueError, match="no class folders"):
        files.ingest(tmp_path / "empty", tmp_path / "ds.parquet")
    clean_root(tmp_path / "ok", per_class=1)
    for bad in [(0, 8), (6,), "6x8", (6.0, 8)]:
        with pytest.raises(ValueError, match="resize"):
            files.ingest(tmp_path / "ok", tmp_path / "ds.parquet", resize=bad)
    with pytest.raises(ValueError, match="extensions"):
        files.ingest(tmp_path / "ok", tmp_path / "ds.parquet", extensions=())


def test_nothing_readable_is_an_error(tmp_path):
    root = tmp_path / "raw"
    (root / "train" / "1").mkdir(parents=True)
    (root / "train" / "1" / "x.bmp").write_bytes(b"not a bitmap")
    with pytest.raises(DatasetError, match="no usable image"):
        files.ingest(root, tmp_path / "ds.parquet")


def test_resize_and_any_extension(messy, tmp_path):
    root, _ = messy
    (root / "train" / "3").rmdir()
    Image.fromarray(glyph(9)).save(root / "train" / "2" / "extra.png")
    ds = files.read_dataset(files.ingest(root, tmp_path / "a.parquet", resize=(12, 16), extensions=None).path)
    assert ds.image_shape == (12, 16)
    assert {"train/1/wide.bmp", "train/2/extra.png"} <= set(ds.paths)
    report = files.ingest(root, tmp_path / "a.parquet", resize=(12, 16), extensions=None).quality
    assert report.wrong_size == ()
    assert "not a readable image" in {s.path: s.reason for s in report.skipped}["train/1/notes.txt"]
    with Image.open(root / "train/1/a.bmp") as image:
        want = np.asarray(image.convert("L").resize((16, 12), Image.Resampling.LANCZOS))
    np.testing.assert_array_equal(ds.X[list(ds.paths).index("train/1/a.bmp")], want.ravel())


def test_reingest_of_an_unchanged_folder_decodes_nothing(messy, tmp_path):
    root, _ = messy
    (root / "train" / "3").rmdir()
    out = tmp_path / "ds.parquet"
    first = files.ingest(root, out)
    before = files.read_dataset(out).X
    written = out.stat().st_mtime_ns
    # Replace a file's bytes but keep its size and mtime: only decoding could notice, and nothing decodes.
    victim = root / "train" / "10" / "c.bmp"
    st = victim.stat()
    victim.write_bytes(b"\0" * st.st_size)
    os.utime(victim, ns=(st.st_atime_ns, st.st_mtime_ns))
    again = files.ingest(root, out)
    assert (again.n_decoded, again.written) == (0, False)
    assert again.n_reused == first.n_decoded + first.n_reused and out.stat().st_mtime_ns == written
    assert again.quality == first.quality
    np.testing.assert_array_equal(files.read_dataset(out).X, before)


def test_reingest_decodes_only_new_and_changed_files(tmp_path):
    root = tmp_path / "raw"
    clean_root(root, per_class=3)
    out = tmp_path / "ds.parquet"
    assert files.ingest(root, out).n_decoded == 9
    save_1bit(root / "train" / "2" / "new.bmp", glyph(77))
    changed = root / "train" / "1" / "0.bmp"
    save_1bit(changed, glyph(78))
    os.utime(changed, ns=(time.time_ns(), changed.stat().st_mtime_ns + 10**9))
    result = files.ingest(root, out)
    assert (result.n_decoded, result.n_reused, result.n_images) == (2, 8, 10)
    ds = files.read_dataset(out)
    np.testing.assert_array_equal(ds.X[list(ds.paths).index("train/1/0.bmp")], glyph(78).ravel())
    np.testing.assert_array_equal(ds.X[list(ds.paths).index("train/2/new.bmp")], glyph(77).ravel())
    assert files.ingest(root, out, force=True).n_decoded == 10


def test_reingest_from_another_root_reuses_nothing(tmp_path):
    # Same relative paths, sizes and mtimes, other pixels: only the root tells the two folders apart.
    a, b = tmp_path / "a", tmp_path / "b"
    clean_root(a, per_class=2)
    for k, name in enumerate(("1", "2", "10")):
        for i in range(2):
            src, dst = a / "train" / name / f"{i}.bmp", b / "train" / name / f"{i}.bmp"
            save_1bit(dst, glyph(500 + 10 * k + i))
            st = src.stat()
            os.utime(dst, ns=(st.st_atime_ns, st.st_mtime_ns))
    out = tmp_path / "ds.parquet"
    files.ingest(a, out)
    result = files.ingest(b, out)
    assert (result.n_decoded, result.n_reused) == (6, 0)
    ds = files.read_dataset(out)
    np.testing.assert_array_equal(ds.X[list(ds.paths).index("train/10/1.bmp")], glyph(521).ravel())


def test_labels_txt_change_rewrites_without_decoding(tmp_path):
    root = tmp_path / "raw"
    clean_root(root, per_class=1)
    out = tmp_path / "ds.parquet"
    files.ingest(root, out)
    (root / "labels.txt").write_text("10 ten\n", encoding="utf-8")
    result = files.ingest(root, out)
    assert (result.n_decoded, result.written) == (0, True)
    assert files.read_dataset(out).display_names == ("1", "2", "ten")


def test_raw_folder_is_never_modified(messy, tmp_path):
    root, _ = messy
    before = listing(root)
    with pytest.raises(DatasetError):
        files.ingest(root, tmp_path / "ds.parquet")
    assert listing(root) == before
    (root / "train" / "3").rmdir()
    before = listing(root)
    files.ingest(root, tmp_path / "ds.parquet")
    files.ingest(root, tmp_path / "ds.parquet", resize=(3, 4), extensions=None)
    files.load_images(root / "train")
    assert listing(root) == before


def test_refuses_to_write_inside_the_data_root(tmp_path):
    root = tmp_path / "raw"
    clean_root(root, per_class=1)
    with pytest.raises(ValueError, match="read-only"):
        files.ingest(root, root / "ds.parquet")
    assert not (root / "ds.parquet").exists()


def test_refuses_to_overwrite_a_file_ingest_did_not_write(tmp_path):
    root = tmp_path / "raw"
    clean_root(root, per_class=1)
    foreign = tmp_path / "mine.parquet"
    foreign.write_bytes(b"precious")
    with pytest.raises(ValueError, match="not a readable Parquet"):
        files.ingest(root, foreign)
    assert foreign.read_bytes() == b"precious"
    with pytest.raises(FileNotFoundError):
        files.read_dataset(tmp_path / "absent.parquet")


def test_load_images_from_class_folders_and_flat(tmp_path):
    folder = tmp_path / "new"
    save_1bit(folder / "2" / "x.bmp", glyph(1))
    save_1bit(folder / "zz" / "y.bmp", glyph(2))
    save_1bit(folder / "loose.bmp", glyph(3))
    save_1bit(folder / "2" / "big.bmp", glyph(4, (7, 7)))
    (folder / "2" / "bad.bmp").write_bytes(b"BM??")
    loaded = files.load_images(folder, class_names=("1", "2", "10"))
    assert loaded.paths == ("2/x.bmp", "loose.bmp", "zz/y.bmp")  # natural order of the listing
    assert list(loaded.y) == [1, -1, -1] and loaded.image_shape == SHAPE
    np.testing.assert_array_equal(loaded.X, np.stack([glyph(1), glyph(3), glyph(2)]).reshape(3, -1))
    kinds = {p.path: type(p).__name__ for p in loaded.problems}
    assert kinds == {"2/bad.bmp": "Skipped", "2/big.bmp": "WrongSize", "zz": "Skipped"}
    flat = files.load_images(folder / "2", image_shape=(7, 7))
    assert flat.paths == ("big.bmp",) and flat.y is None
    single = files.load_images(folder / "loose.bmp")
    np.testing.assert_array_equal(single.X[0], glyph(3).ravel())
    with pytest.raises(ValueError, match="no usable image"):
        files.load_images(folder / "2", image_shape=(5, 5))
    with pytest.raises(FileNotFoundError):
        files.load_images(tmp_path / "absent")


def test_save_and_load_arrays(tmp_path):
    X, y = np.arange(12, dtype=np.float32).reshape(3, 4), np.array([2, 0, 1])
    path = files.save_arrays(tmp_path / "a.npz", X=X, y=y, names=np.array(["a", "bc", "d"]))
    loaded = files.load_arrays(path)
    assert set(loaded) == {"X", "y", "names"} and loaded["X"].dtype == np.float32
    np.testing.assert_array_equal(loaded["X"], X)
    np.testing.assert_array_equal(loaded["names"], ["a", "bc", "d"])
    with pytest.raises(TypeError, match="object"):
        files.save_arrays(tmp_path / "b.npz", bad=np.array([{}, 1], dtype=object))
    assert not (tmp_path / "b.npz").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.npz"]


@pytest.fixture(scope="module")
def hanzi12_dataset(hanzi12_root, tmp_path_factory):
    out = tmp_path_factory.mktemp("hanzi12") / "hanzi12.parquet"
    return files.ingest(hanzi12_root, out), files.read_dataset(out)


def test_hanzi12_ingest(hanzi12_root, hanzi12_dataset):
    result, ds = hanzi12_dataset
    files = sorted((hanzi12_root / "train").glob("*/*.bmp"))
    assert result.n_images == len(ds) == len(files) and result.n_decoded == len(files)
    assert ds.class_names == tuple(str(i) for i in range(1, 13)) and ds.image_shape == (28, 28)
    text = (hanzi12_root / "labels.txt").read_text(encoding="utf-8")
    labels = dict(line.split() for line in text.splitlines())
    assert ds.display_names == tuple(labels[c] for c in ds.class_names)
    per_class = {c: sum(f.parent.name == c for f in files) for c in ds.class_names}
    assert result.quality.counts["train"] == per_class
    copies = {}
    for f in files:
        copies.setdefault(hashlib.sha256(f.read_bytes()).hexdigest(), []).append(f)
    n_groups = sum(len(v) > 1 for v in copies.values())
    assert len(result.quality.duplicates) + len(result.quality.label_conflicts) == n_groups
    for rel in ("train/1/428.bmp", "train/12/560.bmp"):  # the seed design's decoding: Pillow, then asarray
        with Image.open(hanzi12_root / rel) as image:
            seed = np.asarray(image)
        np.testing.assert_array_equal(ds.X[list(ds.paths).index(rel)], np.where(seed, 255, 0).ravel())
    json.dumps(result.quality.to_dict())


def test_hanzi12_reingest_is_a_no_op(hanzi12_root, hanzi12_dataset):
    result, _ = hanzi12_dataset
    again = files.ingest(hanzi12_root, result.path)
    assert (again.n_decoded, again.written, again.n_images) == (0, False, result.n_images)


def test_foreign_parquet_without_metadata_is_refused(tmp_path):
    import pyarrow as pa

    other = tmp_path / "other.parquet"
    pq.write_table(pa.table({"a": [1, 2]}), other)
    before = other.read_bytes()
    clean_root(tmp_path / "raw", per_class=1)
    with pytest.raises(ValueError, match="did not write"):
        files.ingest(tmp_path / "raw", other)
    with pytest.raises(ValueError, match="did not write"):
        files.read_dataset(other)
    assert other.read_bytes() == before
