"""The pipeline's parameters: --help with the defaults, one-line errors, Prefect's view of them."""

from __future__ import annotations

import pickle
import re
from pathlib import Path

import pytest
from prefect import flow
from prefect.exceptions import ParameterTypeError
from pydantic import TypeAdapter, ValidationError

from flows.pipeline.classifier import TEST_TIME
from flows.pipeline.params import (
    DECLARED,
    Iterations,
    LearningRate,
    PipelineParams,
    Seed,
    build_parser,
    flag,
    parse_args,
    valid_values,
)
from flows.store.layout import ARTIFACTS_DIR
from mlp.activations import ACTIVATIONS
from mlp.data.distort import Distortion
from mlp.data.transforms import NORMALIZERS
from mlp.data.views import VIEWS
from mlp.hyper import DISTORTION, MODEL, STREAMING, TRAINING
from mlp.optim import OPTIMIZERS, SCHEDULES

PROG = "full_pipeline.py"
DEFAULTS = PipelineParams()
HIDDEN = "--hidden: must be positive integers separated by commas, e.g. 512,256"
MEMBERS = "--members: must be views separated by commas, each one of raw, framed, e.g. raw,framed"
ACTIVATION = "--activation: must be one of relu, leaky_relu, tanh, sigmoid, gelu"


def _error_line(argv: list[str], capsys) -> str:
    with pytest.raises(SystemExit) as exit_info:
        parse_args(argv, prog=PROG)
    assert exit_info.value.code == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert lines[0].startswith(f"usage: {PROG}")
    return lines[-1]


def test_no_arguments_give_the_defaults():
    assert parse_args([]) == DEFAULTS
    assert DEFAULTS.data_dir is None and DEFAULTS.hidden == (1024, 512)
    assert DEFAULTS.members == ("raw", "framed") and DEFAULTS.augment == "distort"
    assert DEFAULTS.output_dir == ARTIFACTS_DIR and DEFAULTS.val_fraction == 0.1


@pytest.mark.parametrize(
    ("argv", "field", "expected"),
    [
        (["--hidden", "500"], "hidden", (500,)),
        (["--hidden", "512,256"], "hidden", (512, 256)),
        (["--members", "framed"], "members", ("framed",)),
        (["--members", "raw, framed,raw"], "members", ("raw", "framed", "raw")),
        (["--warmup-epochs", "0"], "warmup_epochs", 0),
        (["--hidden", " 64 , 32 ,16"], "hidden", (64, 32, 16)),
        (["--activation", "leaky_relu"], "activation", "leaky_relu"),
        (["--activation", "gelu"], "activation", "gelu"),
        (["--dropout", "0"], "dropout", 0.0),
        (["--dropout", "0.5"], "dropout", 0.5),
        (["--optimizer", "sgd"], "optimizer", "sgd"),
        (["--optimizer", "adamw"], "optimizer", "adamw"),
        (["--lr", "3e-4"], "lr", 3e-4),
        (["--epochs", "1"], "epochs", 1),
        (["--batch-size", "256"], "batch_size", 256),
        (["--schedule", "step"], "schedule", "step"),
        (["--label-smoothing", "0"], "label_smoothing", 0.0),
        (["--normalization", "unit"], "normalization", "unit"),
        (["--augment", "shift"], "augment", "shift"),
        (["--augment", "none"], "augment", "none"),
        (["--distort-rotate", "15"], "distort_rotate", 15.0),
        (["--distort-elastic", "34"], "distort_elastic", 34.0),
        (["--no-shuffle"], "shuffle", False),
        (["--val-fraction", "0.1"], "val_fraction", 0.1),
        (["--seed", "42"], "seed", 42),
        (["--group-by", "stem"], "group_by", "stem"),
        (["--group-by", r"^(\w+)_"], "group_by", r"^(\w+)_"),
        (["--output-dir", "out/runs"], "output_dir", Path("out/runs")),
        (["--ingest-workers", "4"], "ingest_workers", 4),
        (["--data-source", "stream"], "data_source", "stream"),
        (["--memory-budget-mb", "512"], "memory_budget_mb", 512.0),
    ],
)
def test_each_flag(argv, field, expected):
    params = parse_args(argv)
    assert getattr(params, field) == expected
    others = {k: v for k, v in params.model_dump().items() if k != field}
    assert others == {k: v for k, v in DEFAULTS.model_dump().items() if k != field}


def test_data_dir_must_hold_class_folders_under_train(tmp_path, capsys):
    (tmp_path / "train" / "1").mkdir(parents=True)
    assert parse_args(["--data-dir", str(tmp_path)]).data_dir == tmp_path
    # The easy mistake: train/ itself, whose class folders have no train/ inside. Then train/ without class
    # folders, and a folder that does not exist.
    empty = tmp_path / "empty"
    (empty / "train").mkdir(parents=True)
    (empty / "train" / "notes.txt").write_text("no class folder here")
    for wrong in (tmp_path / "train", empty, tmp_path / "missing"):
        assert _error_line(["--data-dir", str(wrong)], capsys) == (
            f"{PROG}: error: --data-dir: must be a folder holding train/<class>/ (got {wrong})"
        )
    with pytest.raises(ValidationError, match=r"holds no train/<class>/ folder"):
        PipelineParams(data_dir=tmp_path / "train")


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--lr", "-1"], "--lr: must be a finite number > 0 (got -1)"),
        (["--lr", "0"], "--lr: must be a finite number > 0 (got 0)"),
        (["--lr", "inf"], "--lr: must be a finite number > 0 (got inf)"),
        (["--lr", "fast"], "--lr: must be a finite number > 0 (got fast)"),
        (["--dropout", "1"], "--dropout: must be a finite number in [0, 1) (got 1)"),
        (["--dropout", "-0.1"], "--dropout: must be a finite number in [0, 1) (got -0.1)"),
        (["--val-fraction", "0"], "--val-fraction: must be a finite number in (0, 1) (got 0)"),
        (["--val-fraction", "1"], "--val-fraction: must be a finite number in (0, 1) (got 1)"),
        (["--epochs", "0"], "--epochs: must be an integer >= 1 (got 0)"),
        (["--epochs", "2.5"], "--epochs: must be an integer >= 1 (got 2.5)"),
        (["--batch-size", "0"], "--batch-size: must be an integer >= 1 (got 0)"),
        (["--seed", "-3"], "--seed: must be an integer >= 0 (got -3)"),
        (["--label-smoothing", "1"], "--label-smoothing: must be a finite number in [0, 1) (got 1)"),
        (["--schedule", "linear"], "--schedule: must be one of constant, step, cosine (got linear)"),
        (["--activation", "swish"], f"{ACTIVATION} (got swish)"),
        (["--optimizer", "rmsprop"], "--optimizer: must be one of sgd, adam, adamw (got rmsprop)"),
        (["--hidden", "0"], f"{HIDDEN} (got 0)"),
        (["--hidden", "512,,3"], f"{HIDDEN} (got 512,,3)"),
        (["--hidden", ""], f"{HIDDEN} (got '')"),
        (["--hidden", "a,b"], f"{HIDDEN} (got a,b)"),
        (["--members", "raw,mirrored"], f"{MEMBERS} (got raw,mirrored)"),
        (["--members", ""], f"{MEMBERS} (got '')"),
        (["--augment", "flip"], "--augment: must be one of distort, shift, none (got flip)"),
        (["--distort-rotate", "180"], "--distort-rotate: must be a finite number in [0, 180) (got 180)"),
        (["--group-by", "(writer"], "--group-by: must be none, stem or a regular expression (got (writer)"),
    ],
)
def test_bad_values_give_one_line_naming_flag_and_range(argv, message, capsys):
    assert _error_line(argv, capsys) == f"{PROG}: error: {message}"


def test_several_bad_values_are_named_on_one_line(capsys):
    line = _error_line(["--seed", "-1", "--lr", "0"], capsys)
    lr, seed = "--lr: must be a finite number > 0 (got 0)", "--seed: must be an integer >= 0 (got -1)"
    assert line == f"{PROG}: error: {lr}; {seed}"


def test_unknown_flag_is_an_error(capsys):
    assert "unrecognized arguments: --layers" in _error_line(["--layers", "3"], capsys)


def test_help_shows_every_flag_with_its_default(capsys):
    with pytest.raises(SystemExit) as exit_info:
        parse_args(["--help"], prog=PROG)
    assert exit_info.value.code == 0
    text = " ".join(capsys.readouterr().out.split())  # undo argparse's line wrapping
    for name in PipelineParams.model_fields:
        assert flag(name) in text
    shown_defaults = ["1024,512", "raw,framed", "relu", "0.2", "adamw", "0.001", "cosine", "0.1", "100", "64",
                      "per_pixel",
                      "distort", "--shuffle", "0", str(ARTIFACTS_DIR)]
    for shown in shown_defaults:
        assert re.search(rf"\(default: {re.escape(shown)}[;)]", text), shown  # then what the flag accepts
    assert "--no-shuffle" in text and "digits demo" in text
    assert ("--dropout DROPOUT dropout rate after each hidden layer "
            "(default: 0.2; a finite number in [0, 1))") in text


def test_help_shows_what_each_flag_accepts():
    actions = {a.dest: a for a in build_parser()._actions}
    assert actions["dropout"].help == (
        "dropout rate after each hidden layer (default: 0.2; a finite number in [0, 1))")
    assert actions["epochs"].help == "passes over the training set (default: 100; an integer >= 1)"
    assert actions["hidden"].help.endswith(f"(default: 1024,512; {HIDDEN.split('must be ')[1]})")
    for name in ("lr", "label_smoothing", "batch_size", "val_fraction", "seed"):
        assert actions[name].help.endswith(f"; {valid_values(name)})"), name
    for name, values in [("activation", ACTIVATIONS), ("optimizer", OPTIMIZERS), ("schedule", SCHEDULES),
                         ("normalization", NORMALIZERS), ("test_time", TEST_TIME)]:
        assert actions[name].metavar == "{" + ",".join(values) + "}"  # the values, beside the flag
    assert "train/<class>/" in actions["data_dir"].help


def test_build_parser_flags_match_the_model():
    options = {a.dest for a in build_parser()._actions} - {"help"}
    assert options == set(PipelineParams.model_fields)


def test_names_are_the_libraries_tables():
    schema = PipelineParams.model_json_schema()["properties"]
    for name, table in [("activation", ACTIVATIONS), ("optimizer", OPTIMIZERS), ("schedule", SCHEDULES),
                        ("normalization", NORMALIZERS), ("test_time", TEST_TIME)]:
        assert schema[name]["enum"] == list(table), name
    assert schema["members"]["items"]["enum"] == list(VIEWS)


# Field -> where its declaration is: every field that sets a library hyper-parameter.
FROM_THE_LIBRARY = {
    **{name: MODEL[name] for name in ("activation", "dropout")},
    **{name: TRAINING[name] for name in ("optimizer", "lr", "schedule", "warmup_epochs", "label_smoothing",
                                         "epochs", "batch_size", "shuffle", "seed")},
    **{f"distort_{name}": DISTORTION[name] for name in ("rotate", "scale", "shear", "translate")},
    "distort_elastic": DISTORTION.elastic_alpha, "distort_sigma": DISTORTION.elastic_sigma,
    **{name: STREAMING[name] for name in ("data_source", "memory_budget_mb")},
}
JSON_BOUNDS = {"gt": "exclusiveMinimum", "ge": "minimum", "lt": "exclusiveMaximum", "le": "maximum"}


def test_the_library_hyper_parameters_come_from_their_declarations():
    assert DECLARED == FROM_THE_LIBRARY
    assert all(DECLARED[name] is hyper for name, hyper in FROM_THE_LIBRARY.items())


@pytest.mark.parametrize("name", list(FROM_THE_LIBRARY))
def test_schema_bounds_choices_and_help_are_the_declarations(name):
    """The Prefect form cannot drift from the library's checks: the same bounds, names and help."""
    hyper, field = FROM_THE_LIBRARY[name], PipelineParams.model_json_schema()["properties"][name]
    assert {JSON_BOUNDS[k]: v for k, v in hyper.bounds().items()} == {
        k: v for k, v in field.items() if k in JSON_BOUNDS.values()}
    assert field.get("enum") == (list(hyper.names) if hyper.choices is not None else None)
    assert field["type"] == {int: "integer", float: "number", bool: "boolean", str: "string"}[hyper.type]
    if name != "seed":  # the pipeline's seed seeds more than the Trainer's (the split, the weights)
        assert field["description"] == hyper.help
    assert valid_values(name) == hyper.required().describe()


def test_hidden_sizes_are_the_models_layer_sizes():
    item = PipelineParams.model_json_schema()["properties"]["hidden"]["items"]
    bounds = {JSON_BOUNDS[k]: v for k, v in MODEL.layer_sizes.bounds().items()}
    assert item == {"type": "integer", **bounds}


def test_the_recipe_differs_from_the_library_where_experiments_chose_so():
    recipe = {name: PipelineParams.model_fields[name].default for name in DECLARED}
    changed = {name: value for name, value in recipe.items() if value != DECLARED[name].default}
    assert changed == {"dropout": 0.2, "optimizer": "adamw", "schedule": "cosine", "warmup_epochs": 2,
                       "label_smoothing": 0.1, "epochs": 100}
    for name, value in recipe.items():
        assert DECLARED[name].check(value) == value, name  # every default is a value the library accepts


def test_arguments_are_the_library_names():
    params = PipelineParams(distort_elastic=34.0, distort_sigma=5.0, lr=0.01, dropout=0.5)
    assert params.arguments(MODEL) == {"activation": "relu", "dropout": 0.5}
    assert Distortion(**params.arguments(DISTORTION)) == Distortion(elastic_alpha=34.0, elastic_sigma=5.0)
    training = params.arguments(TRAINING)
    assert set(training) == {"optimizer", "lr", "schedule", "warmup_epochs", "label_smoothing", "epochs",
                             "batch_size", "shuffle", "seed"}
    assert training["lr"] == 0.01 and training["optimizer"] == "adamw"


def test_arguments_of_copied_tables_are_the_same():
    """A task's function reaches a Dask worker pickled by value, with copies of the tables it names."""
    params = PipelineParams(dropout=0.5, lr=0.01)
    for table in (MODEL, TRAINING, DISTORTION):
        copied = pickle.loads(pickle.dumps(table))
        assert copied is not table and params.arguments(copied) == params.arguments(table) != {}


def test_the_sine_fits_parameters_are_the_libraries_epochs_lr_and_seed():
    for annotation, hyper in [(Iterations, TRAINING.epochs), (LearningRate, TRAINING.lr),
                              (Seed, TRAINING.seed)]:
        assert hyper in annotation.__metadata__
        schema = TypeAdapter(annotation).json_schema()
        assert {k: v for k, v in schema.items() if k in JSON_BOUNDS.values()} == {
            JSON_BOUNDS[k]: v for k, v in hyper.bounds().items()}


def test_model_is_frozen_and_strict_about_names():
    params = PipelineParams()
    with pytest.raises(ValidationError):
        params.lr = 1.0
    with pytest.raises(ValidationError, match="hiden"):
        PipelineParams(hiden=[10])
    with pytest.raises(ValidationError, match="at least 1"):
        PipelineParams(hidden=[])
    assert hash(params) == hash(DEFAULTS)


def test_valid_values_in_words():
    assert valid_values("dropout") == "a finite number in [0, 1)"
    assert valid_values("epochs") == "an integer >= 1"
    assert valid_values("batch_size") == "an integer >= 1"  # the library's None (full batch) is no flag
    assert valid_values("optimizer") == "one of sgd, adam, adamw"
    assert valid_values("val_fraction") == "a finite number in (0, 1)"
    assert valid_values("output_dir") == "a path"


@flow
def _takes_params(params: PipelineParams = DEFAULTS) -> PipelineParams:
    return params


def test_prefect_validates_the_parameters_and_publishes_their_schema():
    validated = _takes_params.validate_parameters({"params": {"hidden": [64, 32], "lr": "0.01"}})
    assert validated["params"] == PipelineParams(hidden=(64, 32), lr=0.01)
    with pytest.raises(ParameterTypeError, match="lr"):
        _takes_params.validate_parameters({"params": {"lr": -1}})
    schema = _takes_params.parameters.model_dump()["definitions"]["PipelineParams"]["properties"]
    assert schema["activation"]["enum"] == list(ACTIVATIONS)
    assert schema["dropout"]["minimum"] == 0 and schema["dropout"]["exclusiveMaximum"] == 1
    assert schema["hidden"]["items"] == {"minimum": 1, "type": "integer"}
