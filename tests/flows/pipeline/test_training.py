"""The training stage: its configuration from the parameters, each network's own seed, and a failing network
stopping the others with its own error raised."""

from __future__ import annotations

import re

import pytest
from prefect import flow

from flows.pipeline.params import PipelineParams
from flows.pipeline.preparation import (
    augment_training_set,
    fit_normalization,
    ingest_images,
    prepare_data,
    shuffle_training_set,
    split_data,
    start_run,
)
from flows.pipeline.training import batch_size_text, member_seed, train_config, train_model
from flows.store.history import read_history_csv
from tests.data_trees import clean_root


def test_train_config_follows_the_parameters(tmp_path):
    params = PipelineParams(optimizer="sgd", lr=0.05, epochs=7, batch_size=32, schedule="step",
                            label_smoothing=0.0, shuffle=False, seed=9)
    config = train_config(params, tmp_path / "checkpoints")
    assert (config.optimizer, config.lr, config.epochs, config.batch_size) == ("sgd", 0.05, 7, 32)
    assert (config.schedule, config.label_smoothing, config.shuffle, config.seed) == ("step", 0.0, False, 9)
    assert config.checkpoint_dir == tmp_path / "checkpoints" and config.monitor == "val_loss"


def test_a_batch_larger_than_the_training_set_is_said_to_take_all_of_it():
    """The Trainer clamps such a batch to the training set; the log and the report say so."""
    assert batch_size_text(64, 240) == 64 and batch_size_text(240, 240) == 240
    assert batch_size_text(1_000_000, 240) == ("1,000,000 (more than the 240 training images: each step "
                                               "takes all of them, full batch)")
    assert batch_size_text(None, 6048) == "none (each step takes all 6,048 training images: full batch)"


def test_no_network_shares_its_seed_with_a_network_of_another_run():
    seeds = [member_seed(seed, k) for seed in range(50) for k in range(4)]
    assert len(set(seeds)) == len(seeds)  # seed + k would give network 2 of --seed 0 the seed of --seed 1
    assert member_seed(7, 0) == 7 and member_seed(7, 1) != 8  # the first keeps --seed itself


@pytest.mark.usefixtures("prefect_harness")
def test_a_network_that_fails_stops_the_others_and_its_own_error_is_raised(run):
    """Fault injection: a file stands where the framed network's checkpoint folder goes, so that network
    fails at its first checkpoint; the raw network stops at the end of its epoch instead of training on,
    and train_model raises the framed network's error, not the raw one's stop."""
    params, _, layout, _ = run
    params = params.model_copy(update={"epochs": 200, "hidden": (16,), "members": ("raw", "framed")})
    split_data.fn(layout, 0.2, seed=0)
    fit_normalization.fn(layout, params.normalization, params.members)
    augment_training_set.fn(layout, params.augment)
    shuffle_training_set.fn(layout, params.shuffle, params.seed)
    blocked = layout.member_checkpoints("2-framed")
    blocked.parent.mkdir(parents=True, exist_ok=True)
    blocked.write_text("not a folder")

    @flow
    def training() -> None:  # a flow run around the task, as in the pipeline: its artifacts belong to it
        train_model(layout, params, "data")

    with pytest.raises(OSError, match="2-framed"):
        training()
    raw_epochs = [row for row in read_history_csv(layout.history) if row["member"] == "1-raw"]
    assert 0 < len(raw_epochs) < params.epochs  # stopped early, its epochs so far recorded


def test_data_of_one_class_is_refused_in_one_line_naming_the_folder(tmp_path):
    root = tmp_path / "one-class"
    clean_root(root, per_class=10, classes=("7",))
    params = PipelineParams(data_dir=root, output_dir=tmp_path / "out", epochs=1, hidden=(8,))
    source = prepare_data.fn(params.data_dir)
    layout = start_run.fn(params, source, "20261203-080000-one-class")
    ingest_images.fn(source, layout, params.output_dir)
    split_data.fn(layout, 0.2, seed=0)
    fit_normalization.fn(layout, params.normalization, params.members)
    augment_training_set.fn(layout, params.augment)
    shuffle_training_set.fn(layout, params.shuffle, params.seed)
    expected = f"{root} has 1 class folder(s) (only '7'): training needs at least two classes"
    with pytest.raises(ValueError, match=f"^{re.escape(expected)}$"):
        train_model.fn(layout, params, str(root))
    assert not layout.best.exists()
