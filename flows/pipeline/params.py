"""The pipeline's parameters: one pydantic model for Prefect's run form, and the command line built from it.

The model is the single source of the names, defaults, ranges and help texts. Prefect validates a flow's
parameters with it and turns it into the deployment's JSON schema (the UI's form); `parse_args` builds the
argparse command line from its fields and reports a bad value as one line naming the flag and its valid range.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Annotated, Any, Literal, get_args, get_origin

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    DirectoryPath,
    Field,
    PositiveInt,
    TypeAdapter,
    ValidationError,
)

from flows.environment import ARTIFACTS_DIR
from mlp.data.split import GROUPINGS, compile_grouping

# The names the model library accepts. They live here as Literal types so that pydantic and the Prefect UI can
# offer and check them; the library's own tables validate them again.
Activation = Literal["relu", "leaky_relu", "tanh", "sigmoid", "gelu"]
Optimizer = Literal["sgd", "adam", "adamw"]
Schedule = Literal["constant", "step", "cosine"]
Normalization = Literal["per_pixel", "global", "unit"]
Augmentation = Literal["distort", "shift", "none"]
View = Literal["raw", "framed"]
TestTime = Literal["shifts", "none"]
ACTIVATIONS: tuple[str, ...] = get_args(Activation)
OPTIMIZERS: tuple[str, ...] = get_args(Optimizer)
SCHEDULES: tuple[str, ...] = get_args(Schedule)
NORMALIZATIONS: tuple[str, ...] = get_args(Normalization)
AUGMENTATIONS: tuple[str, ...] = get_args(Augmentation)
VIEWS: tuple[str, ...] = get_args(View)
TEST_TIMES: tuple[str, ...] = get_args(TestTime)


def _holds_class_folders(path: Path) -> Path:
    """`path` itself when it holds train/ with at least one class folder; else ValueError naming it."""
    train = path / "train"
    if not (train.is_dir() and any(child.is_dir() for child in train.iterdir())):
        raise ValueError(f"{path} holds no train/<class>/ folder (the data folder is the one above train/)")
    return path


DataDir = Annotated[DirectoryPath, AfterValidator(_holds_class_folders)]


def _grouping(rule: str) -> str:
    """`rule` itself when it is one of GROUPINGS or a valid regular expression; else ValueError."""
    if rule not in GROUPINGS:
        compile_grouping(rule)
    return rule


GroupBy = Annotated[str, AfterValidator(_grouping)]


class PipelineParams(BaseModel):
    """Parameters of one training run: data, architecture, optimisation, augmentation, split and outputs."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    data_dir: DataDir | None = Field(
        None,
        description="folder with train/<class>/*.bmp and optionally labels.txt and test/; "
        "default: data/raw when it holds train/, else the built-in digits demo",
    )
    members: tuple[View, ...] = Field(
        ("raw", "framed"), min_length=1, description="the networks of the ensemble, one per entry, each "
        "trained on its own view of the images: raw (as drawn) or framed (the character scaled and centred "
        "into a box, which undoes shifts and changes of size); the prediction is the mean of their "
        "probabilities; they train side by side",
    )
    hidden: tuple[PositiveInt, ...] = Field(
        (1024, 512), min_length=1, description="hidden layer sizes; input and output sizes come from the data"
    )
    activation: Activation = Field("relu", description="activation after each hidden layer")
    dropout: float = Field(
        0.2, ge=0, lt=1, allow_inf_nan=False, description="dropout rate after each hidden layer"
    )
    optimizer: Optimizer = Field("adamw", description="optimiser (adamw: Adam with decoupled weight decay "
                                 "0.01)")
    lr: float = Field(1e-3, gt=0, allow_inf_nan=False, description="learning rate")
    schedule: Schedule = Field("cosine", description="learning-rate schedule over the epochs")
    warmup_epochs: int = Field(
        2, ge=0, description="epochs of linear learning-rate warm-up before the schedule"
    )
    label_smoothing: float = Field(
        0.1, ge=0, lt=1, allow_inf_nan=False,
        description="cross-entropy label smoothing; it keeps the validation loss, which picks the best "
        "checkpoint, in step with the validation accuracy",
    )
    epochs: int = Field(100, ge=1, description="passes over the training set")
    batch_size: int = Field(64, ge=1, description="samples per gradient step")
    normalization: Normalization = Field(
        "per_pixel", description="pixel scaling fitted on the training split: per_pixel (mean 0, std 1 per "
        "pixel), global (one mean and std), unit (x/255 only)",
    )
    augment: Augmentation = Field(
        "distort", description="distort: every epoch trains on fresh random distortions of the training "
        "images (see --distort-*); shift: each image also shifted by 1 pixel up, down, left and right, once "
        "(5x images); none",
    )
    distort_rotate: float = Field(
        10.0, ge=0, lt=180, allow_inf_nan=False, description="distortion: rotation range in degrees, ±"
    )
    distort_scale: float = Field(
        0.1, ge=0, lt=1, allow_inf_nan=False,
        description="distortion: each axis stretched by a factor in [1 - s, 1 + s]",
    )
    distort_shear: float = Field(
        0.15, ge=0, lt=1, allow_inf_nan=False,
        description="distortion: slope that horizontal strokes take on, ± (vertical strokes stay upright)",
    )
    distort_translate: float = Field(
        0.1, ge=0, lt=1, allow_inf_nan=False,
        description="distortion: shift of up to this fraction of the height and width",
    )
    distort_elastic: float = Field(
        0.0, ge=0, allow_inf_nan=False, description="distortion: elastic displacement scale in pixels "
        "(Simard et al. 2003's alpha; their 34 with sigma 4 on 28x28 digits); 0 turns it off",
    )
    distort_sigma: float = Field(
        4.0, gt=0, allow_inf_nan=False, description="distortion: smoothness of the elastic field in pixels",
    )
    test_time: TestTime = Field(
        "shifts", description="test-time augmentation, saved with the model: shifts (predict each image as "
        "drawn and moved one pixel up, down, left and right, and average) or none",
    )
    shuffle: bool = Field(True, description="shuffle the training set, and again every epoch")
    val_fraction: float = Field(
        0.1, gt=0, lt=1, allow_inf_nan=False, description="fraction of each class held out for validation"
    )
    group_by: GroupBy = Field(
        "none", description="keep images with the same key on one side of the split: none; stem, the file "
        "name without extension (e.g. a writer id shared by the files of every class folder); or a regular "
        "expression searched in the path below the class folder, whose first group is the key",
    )
    seed: int = Field(0, ge=0, description="seed of every random choice: split, initialisation, shuffling")
    output_dir: Path = Field(ARTIFACTS_DIR, description="where runs/<run-name>/ and latest are written")


def flag(name: str) -> str:
    """The command-line flag of a field: ``batch_size`` -> ``--batch-size``."""
    return "--" + name.replace("_", "-")


def valid_values(name: str) -> str:
    """What a field accepts, in words: 'a number in [0, 1)', 'one of sgd, adam, adamw', ..."""
    field = PipelineParams.model_fields[name]
    if get_origin(field.annotation) is Literal:
        return "one of " + ", ".join(get_args(field.annotation))
    if name == "hidden":
        return "positive integers separated by commas, e.g. 512,256"
    if name == "members":
        return f"views separated by commas, each one of {', '.join(VIEWS)}, e.g. raw,framed"
    if name == "data_dir":
        return "a folder holding train/<class>/"
    if name == "group_by":
        return f"{', '.join(GROUPINGS)} or a regular expression"
    if field.annotation is bool:
        return "true or false"
    if field.annotation is Path:
        return "a path"
    b = {k: getattr(m, k) for m in field.metadata for k in ("gt", "ge", "lt", "le") if hasattr(m, k)}
    finite = any(getattr(m, "allow_inf_nan", True) is False for m in field.metadata)
    kind = "an integer" if field.annotation is int else "a finite number" if finite else "a number"
    left = f"({b['gt']}" if "gt" in b else f"[{b['ge']}" if "ge" in b else ""
    right = f"{b['lt']})" if "lt" in b else f"{b['le']}]" if "le" in b else ""
    if left and right:
        return f"{kind} in {left}, {right}"
    if left:
        return f"{kind} {'>' if 'gt' in b else '>='} {left[1:]}"
    if right:
        return f"{kind} {'<' if 'lt' in b else '<='} {right[:-1]}"
    return kind


def _shown(value: Any) -> str:
    if isinstance(value, tuple):
        return ",".join(str(v) for v in value)
    return str(value)


METAVARS = {"hidden": "N[,N...]", "members": "VIEW[,VIEW...]", "data_dir": "DIR", "output_dir": "DIR"}
# Fields whose help says what they accept without `valid_values`: the paths (their descriptions do).
RANGE_SHOWN_ELSEWHERE = ("data_dir", "output_dir")


def build_parser(prog: str | None = None) -> argparse.ArgumentParser:
    """The argparse command line of `PipelineParams`: one flag per field, ``--help`` showing each default and
    what the flag accepts, e.g. ``(default: 0.2; a finite number in [0, 1))``."""
    parser = argparse.ArgumentParser(
        prog=prog,
        description="Train a NumPy multilayer perceptron on folders of class-labelled BMP images "
        "and write the model, its checkpoints and a report.",
    )
    for name, field in PipelineParams.model_fields.items():
        text = (field.description or "").replace("%", "%%")
        if field.annotation is bool:
            shown = flag(name) if field.default else "--no-" + flag(name)[2:]
            on_off = argparse.BooleanOptionalAction
            parser.add_argument(flag(name), action=on_off, default=None, help=f"{text} (default: {shown})")
            continue
        notes = [f"default: {_shown(field.default)}"] if field.default is not None else []
        if name not in RANGE_SHOWN_ELSEWHERE and get_origin(field.annotation) is not Literal:
            notes.append(valid_values(name))  # a Literal's values are the metavar, {a,b,c}
        if notes:
            text += f" ({'; '.join(notes)})"
        if get_origin(field.annotation) is Literal:
            metavar = "{" + ",".join(get_args(field.annotation)) + "}"
        else:
            metavar = METAVARS.get(name, name.upper())
        parser.add_argument(flag(name), metavar=metavar, default=None, help=text)
    return parser


def parse_args(argv: Sequence[str] | None = None, prog: str | None = None) -> PipelineParams:
    """Parse command-line arguments (default ``sys.argv[1:]``) into validated `PipelineParams`.

    A bad value ends the program like any argparse error (usage, then one line, exit status 2), e.g.
    ``error: --lr: must be a finite number > 0 (got -1)``.
    """
    parser = build_parser(prog)
    given = {k: v for k, v in vars(parser.parse_args(argv)).items() if v is not None}
    raw = dict(given)
    for name in ("hidden", "members"):
        if name in given:
            given[name] = [part.strip() for part in given[name].split(",")]
    try:
        return PipelineParams(**given)
    except ValidationError as error:
        names = dict.fromkeys(str(e["loc"][0]) for e in error.errors())  # fields in order, each once
        parser.error("; ".join(f"{flag(n)}: must be {valid_values(n)} (got {_got(raw[n])})" for n in names))


def _got(value: Any) -> str:
    text = str(value)
    return text if text.strip() else repr(text)


# The sine fit's parameters (flows/jobs/sine_fit.py), checked by Prefect (and its UI form) and by the command
# line alike.
Iterations = Annotated[int, Field(ge=1, description="full-batch Adam steps")]
LearningRate = Annotated[float, Field(gt=0, allow_inf_nan=False, description="Adam's learning rate")]
Seed = Annotated[int, Field(ge=0, description="seed of the initial weights")]


def checked(annotation: Any) -> Callable[[str], Any]:
    """An argparse type that validates a flag with a flow parameter's own constraints (`annotation`, e.g.
    `LearningRate`): a bad value ends with one line naming the flag."""
    adapter = TypeAdapter(annotation)

    def parse(text: str) -> Any:
        try:
            return adapter.validate_python(text)
        except ValidationError as error:
            raise argparse.ArgumentTypeError(f"{error.errors()[0]['msg'].lower()} (got {text})") from None

    return parse
