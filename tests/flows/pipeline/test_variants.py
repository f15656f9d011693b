"""The sweep's configurations: each variant changes only its own fields, studies expand in order, unknown
names are refused listing the valid ones, changes in words."""

from __future__ import annotations

import pytest

from flows.pipeline.params import PipelineParams
from flows.pipeline.variants import STUDIES, VARIANTS, configurations, describe_changes


def test_each_variant_changes_its_own_fields_of_the_base():
    base = PipelineParams(epochs=5, lr=0.01, val_fraction=0.2)
    configs = configurations(base, list(VARIANTS))
    assert list(configs) == list(VARIANTS)
    assert configs["default"] == base
    assert configs["hidden-512-256"].hidden == (512, 256) and configs["hidden-512-256"].epochs == 5
    assert configs["no-normalisation"].normalization == "unit"
    assert (configs["no-shuffle"].shuffle, configs["no-augment"].augment) == (False, "none")
    for name, params in configs.items():
        changed = {k for k, v in params.model_dump().items() if v != getattr(base, k)}
        assert changed <= set(VARIANTS[name]), name  # a change may repeat the base's value
        assert all(getattr(params, k) == v for k, v in VARIANTS[name].items()), name
    seed = configs["seed-plain"]
    assert (seed.hidden, seed.members, seed.augment, seed.epochs) == ((500,), ("raw",), "none", 30)
    assert (seed.lr, seed.batch_size) == (1e-3, 64)  # pinned: the seed design's, whatever the base says
    assert seed.val_fraction == 0.2  # what a variant does not change comes from the base


def test_studies_expand_to_their_variants_in_order():
    assert list(configurations(PipelineParams())) == list(STUDIES["one-change"])
    names = list(configurations(PipelineParams(), ["seed-ladder", "default", "seed-plain"]))
    assert names == [*STUDIES["seed-ladder"], "default"]
    assert all(n in VARIANTS for study in STUDIES.values() for n in study)
    assert describe_changes("seed-batch-8") == "seed-normalised, batch 8"


def test_configurations_keep_the_order_given_and_refuse_unknown_names():
    assert list(configurations(PipelineParams(), ["no-shuffle", "default"])) == ["no-shuffle", "default"]
    message = r"unknown sweep configurations \['wide'\]; valid: one-change, seed-ladder, .* default, hidden"
    with pytest.raises(ValueError, match=message):
        configurations(PipelineParams(), ["default", "wide"])
    with pytest.raises(ValueError, match=r"valid: one-change, .* \(studies\), default"):
        configurations(PipelineParams(), [])


def test_changes_in_words():
    assert describe_changes("default") == "base"
    assert describe_changes("hidden-512-256") == "hidden=512,256"
    assert describe_changes("no-dropout") == "dropout=0.0"
