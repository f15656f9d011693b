"""The data stages as plain functions (`task.fn`): start, ingest, split, normalisation, augment, shuffle.

The stages that publish artifacts (quality, training, report, promotion) need a flow run: they are tested
in `test_full_pipeline.py`.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from flows.pipeline.params import PipelineParams
from flows.pipeline.preparation import (
    augment_training_set,
    fit_normalization,
    ingest_images,
    prepare_data,
    shuffle_training_set,
    split_data,
    stage_rng,
    start_run,
)
from flows.store.runs import read_record
from mlp.data import files
from mlp.data.views import frame
from tests.data_trees import SHAPE, STAGE_CLASSES, clean_root, glyph, save_1bit


def test_start_run_records_the_parameters(run):
    params, source, layout, _ = run
    record = read_record(layout)
    assert record["run_name"] == layout.name == "20261127-104512-data"
    assert record["data"] == {"root": str(source.root), "kind": "given"}
    assert PipelineParams(**record["parameters"]) == params


def test_ingest_reuses_unchanged_images_and_snapshots_the_data_set(run):
    params, source, layout, first = run
    assert (first.n_images, first.n_decoded, first.rewritten) == (30, 30, True)
    assert first.parquet.parent == params.output_dir / "datasets"
    second = ingest_images.fn(source, layout, params.output_dir)
    assert (second.n_decoded, second.rewritten, second.parquet) == (0, False, first.parquet)
    assert files.read_dataset(layout.dataset).X.shape == (30, SHAPE[0] * SHAPE[1])


def test_split_is_stratified_disjoint_seeded_and_saves_raw_validation_pixels(run):
    _, _, layout, _ = run
    split_data.fn(layout, 0.2, seed=0)
    split = files.load_arrays(layout.split)
    ds = files.read_dataset(layout.dataset)
    assert sorted([*split["train"], *split["val"]]) == list(range(30))
    assert np.bincount(ds.y[split["val"]]).tolist() == [2, 2, 2]  # 20% of 10 per class
    val = files.load_arrays(layout.val_data)
    assert np.array_equal(val["X"], ds.X[split["val"]]) and np.array_equal(val["y"], ds.y[split["val"]])
    assert val["X"].dtype == np.uint8
    first_val = split["val"].copy()
    split_data.fn(layout, 0.2, seed=0)
    assert np.array_equal(files.load_arrays(layout.split)["val"], first_val)
    split_data.fn(layout, 0.2, seed=1)
    assert not np.array_equal(files.load_arrays(layout.split)["val"], first_val)


def test_a_grouped_split_keeps_each_file_stem_on_one_side(run):
    """clean_root names the files 0.bmp .. 9.bmp in every class folder: grouped by stem, file i of every
    class is one group, so validation holds whole stems (20% of 10 per class: two stems)."""
    _, _, layout, _ = run
    split_data.fn(layout, 0.2, seed=0, group_by="stem")
    split, ds = files.load_arrays(layout.split), files.read_dataset(layout.dataset)
    stem = np.array([p.rsplit("/", 1)[1] for p in ds.paths])
    assert len(set(stem[split["val"]])) == 2 and not set(stem[split["val"]]) & set(stem[split["train"]])
    assert np.bincount(ds.y[split["val"]]).tolist() == [2, 2, 2]
    with pytest.raises(ValueError, match=r"grouping 'x\(\\d\)' does not match 'train/1/0.bmp'"):
        split_data.fn(layout, 0.2, seed=0, group_by=r"x(\d)")


def test_a_validation_folder_is_used_as_it_is(tmp_path):
    root = tmp_path / "data"
    clean_root(root, per_class=4, classes=STAGE_CLASSES)
    for k, name in enumerate(STAGE_CLASSES):
        save_1bit(root / "validation" / name / "v.bmp", glyph(1000 + k))
    params = PipelineParams(data_dir=root, output_dir=tmp_path / "out")
    source = prepare_data.fn(params.data_dir)
    layout = start_run.fn(params, source, "run")
    ingest_images.fn(source, layout, params.output_dir)
    split_data.fn(layout, 0.5, seed=0)
    split, ds = files.load_arrays(layout.split), files.read_dataset(layout.dataset)
    assert set(ds.split[split["val"]]) == {"validation"} and len(split["val"]) == 3
    assert set(ds.split[split["train"]]) == {"train"} and len(split["train"]) == 12


def test_normaliser_is_fitted_on_the_training_rows_only(run):
    _, _, layout, _ = run
    split_data.fn(layout, 0.2, seed=0)
    fit_normalization.fn(layout, "per_pixel", ("raw", "framed"))
    saved = json.loads(layout.normalizer.read_text(encoding="utf-8"))
    ds = files.read_dataset(layout.dataset)
    X = ds.X.astype(np.float64)
    train = files.load_arrays(layout.split)["train"]
    assert list(saved) == ["raw", "framed"] and saved["raw"]["mode"] == "per_pixel"
    assert np.allclose(saved["raw"]["mean"], X[train].mean(axis=0), atol=1e-4)
    assert not np.allclose(saved["raw"]["mean"], X.mean(axis=0), atol=1e-4)
    framed = frame(ds.X[train], ds.image_shape).astype(np.float64)  # each view has its own statistics
    assert np.allclose(saved["framed"]["mean"], framed.mean(axis=0), atol=1e-3)


def test_augment_adds_four_shifted_copies_or_leaves_the_raw_images_for_the_trainer(run):
    _, _, layout, _ = run
    split_data.fn(layout, 0.2, seed=0)
    ds, train = files.read_dataset(layout.dataset), files.load_arrays(layout.split)["train"]
    for unexpanded in ("none", "distort"):  # distortions are drawn by the trainer, every epoch
        augment_training_set.fn(layout, augment=unexpanded)
        plain = files.load_arrays(layout.train_data)
        assert np.array_equal(plain["X"], ds.X[train]) and np.array_equal(plain["y"], ds.y[train])
    augment_training_set.fn(layout, augment="shift")
    augmented = files.load_arrays(layout.train_data)
    n = len(train)
    assert augmented["X"].shape == (5 * n, ds.X.shape[1]) and augmented["X"].dtype == np.uint8
    assert np.array_equal(augmented["X"][:n], ds.X[train])
    assert np.array_equal(augmented["y"], np.tile(ds.y[train], 5))
    up = augmented["X"][n:2 * n].reshape(n, *SHAPE)
    assert np.array_equal(up[:, :-1], ds.X[train].reshape(n, *SHAPE)[:, 1:])  # block 1: content moved up


def test_shuffle_permutes_rows_keeping_pairs_or_leaves_them(run):
    _, _, layout, _ = run
    split_data.fn(layout, 0.2, seed=0)
    augment_training_set.fn(layout, augment="shift")
    before = files.load_arrays(layout.train_data)
    shuffle_training_set.fn(layout, shuffle=False, seed=0)
    assert np.array_equal(files.load_arrays(layout.train_data)["X"], before["X"])
    shuffle_training_set.fn(layout, shuffle=True, seed=0)
    after = files.load_arrays(layout.train_data)
    assert not np.array_equal(after["X"], before["X"])
    pairs = sorted(zip(map(bytes, before["X"]), before["y"].tolist(), strict=True))
    assert sorted(zip(map(bytes, after["X"]), after["y"].tolist(), strict=True)) == pairs


def test_each_random_stage_has_its_own_reproducible_stream():
    assert np.array_equal(stage_rng(3, "split").random(4), stage_rng(3, "split").random(4))
    assert not np.array_equal(stage_rng(3, "split").random(4), stage_rng(3, "shuffle").random(4))
    assert not np.array_equal(stage_rng(3, "split").random(4), stage_rng(4, "split").random(4))
    with pytest.raises(ValueError, match="unknown random stage 'init'; valid: split, shuffle"):
        stage_rng(0, "init")


