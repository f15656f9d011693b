"""The pipeline's parameters: one pydantic model for Prefect's run form, and the command line built from it.

The model is the pipeline's single source of names, defaults, ranges and help texts. A field that sets one of
the library's hyper-parameters takes its type, range and help from the library's declaration (`mlp.hyper`)
and only its default from here: the recipe, in `PipelineParams`' body. The pipeline's own fields are
declared here once, their choices read from the library's tables. Prefect validates a flow's parameters
with the model and turns it into the deployment's JSON schema (the UI's form); `parse_args` builds the
argparse command line from its fields and reports a bad value as one line naming the flag and what it
accepts.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Annotated, Any, Literal, get_args, get_origin

from pydantic import AfterValidator, BaseModel, ConfigDict, DirectoryPath, Field, TypeAdapter, ValidationError

from flows.pipeline.classifier import TEST_TIME
from flows.store.layout import ARTIFACTS_DIR
from mlp.data.split import GROUPINGS, compile_grouping
from mlp.data.transforms import NORMALIZERS
from mlp.data.views import VIEWS
from mlp.hyper import DISTORTION, MODEL, STREAMING, TRAINING, Hyper


class Declared:
    """``Declared[hyper]``: the pydantic type of a declared hyper-parameter, e.g. ``Declared[TRAINING.lr]``
    is ``Annotated[float, Field(gt=0, allow_inf_nan=False, description="learning rate"), hyper]`` (a
    Literal of the names for choices). ``Declared[hyper, "help"]`` describes it in words of its own (None:
    not at all). None is never accepted: a flag cannot say it. The declaration stays in the metadata
    (`DECLARED`)."""

    def __class_getitem__(cls, key: Hyper | tuple[Hyper, str | None]) -> Any:
        hyper, description = key if isinstance(key, tuple) else (key, key.help)
        kind = Literal[hyper.names] if hyper.choices is not None else hyper.type
        finite = {"allow_inf_nan": False} if hyper.type is float else {}
        return Annotated[kind, Field(description=description, **hyper.bounds(), **finite), hyper]


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
LayerSize = Declared[MODEL.layer_sizes.each(), None]  # one hidden layer's width, as the model takes it
RunSeed = Declared[TRAINING.seed, "seed of every random choice: split, initialisation, shuffling"]
View = Literal[tuple(VIEWS)]
Normalization = Literal[tuple(NORMALIZERS)]
TestTime = Literal[tuple(TEST_TIME)]
# The training stage's ways to augment the training set (flows/pipeline/preparation.py).
Augmentation = Literal["distort", "shift", "none"]


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
    hidden: tuple[LayerSize, ...] = Field(
        (1024, 512), min_length=1, description="hidden layer sizes; input and output sizes come from the data"
    )
    # The recipe: the library's hyper-parameters at the pipeline's defaults (chosen on writers held out whole,
    # EXPERIMENTS.md), each field's type, range and help from its declaration in mlp.hyper.
    activation: Declared[MODEL.activation] = "relu"
    dropout: Declared[MODEL.dropout] = 0.2
    optimizer: Declared[TRAINING.optimizer] = "adamw"
    lr: Declared[TRAINING.lr] = 1e-3
    schedule: Declared[TRAINING.schedule] = "cosine"
    warmup_epochs: Declared[TRAINING.warmup_epochs] = 2
    label_smoothing: Declared[TRAINING.label_smoothing] = 0.1
    epochs: Declared[TRAINING.epochs] = 100
    batch_size: Declared[TRAINING.batch_size] = 64
    shuffle: Declared[TRAINING.shuffle] = True
    seed: RunSeed = 0
    distort_rotate: Declared[DISTORTION.rotate] = 10.0
    distort_scale: Declared[DISTORTION.scale] = 0.1
    distort_shear: Declared[DISTORTION.shear] = 0.15
    distort_translate: Declared[DISTORTION.translate] = 0.1
    distort_elastic: Declared[DISTORTION.elastic_alpha] = 0.0
    distort_sigma: Declared[DISTORTION.elastic_sigma] = 4.0
    # The pipeline's own.
    normalization: Normalization = Field(
        "per_pixel", description="pixel scaling fitted on the training split: per_pixel (mean 0, std 1 per "
        "pixel), global (one mean and std), unit (x/255 only)",
    )
    augment: Augmentation = Field(
        "distort", description="distort: every epoch trains on fresh random distortions of the training "
        "images (see --distort-*); shift: each image also shifted by 1 pixel up, down, left and right, once "
        "(5x images); none",
    )
    test_time: TestTime = Field(
        "shifts", description="test-time augmentation, saved with the model: shifts (predict each image as "
        "drawn and moved one pixel up, down, left and right, and average) or none",
    )
    val_fraction: float = Field(
        0.1, gt=0, lt=1, allow_inf_nan=False, description="fraction of each class held out for validation"
    )
    group_by: GroupBy = Field(
        "none", description="keep images with the same key on one side of the split: none; stem, the file "
        "name without extension (e.g. a writer id shared by the files of every class folder); or a regular "
        "expression searched in the path below the class folder, whose first group is the key",
    )
    # 200: an accuracy measured on 200 images is known to within 7 points (95%; 4 near 90% accuracy), and
    # every class of a 12-class folder has ~17 of them; hanzi12 validates on 672 at val_fraction 0.1.
    promotion_min_samples: int = Field(
        200, ge=1, description="the fewest validation images the champion was not trained on that the "
        "challenger must be compared on before it can replace the champion",
    )
    promotion_alpha: float = Field(
        0.05, gt=0, lt=1, allow_inf_nan=False, description="significance level of the promotion: the "
        "challenger replaces the champion only when McNemar's exact test (one-sided) on the images where "
        "the two disagree gives p below it",
    )
    # 20: a nightly schedule keeps three weeks of runs to open and roll back to, and the output folder stays
    # near 2 GB on hanzi12 (a run is ~85 MB at the defaults); the history of runs keeps every run's row.
    keep_runs: int = Field(
        20, ge=1, description="run folders kept at the end of each run (the newest; the one latest points to "
        "and each champion's are kept too), and champion versions kept per data folder; older ones are "
        "removed",
    )
    # 1: a retry resumes from the networks' last checkpoints, so it costs little, and a scheduled run
    # outlives a network folder or a disk that is gone for a moment.
    train_retries: int = Field(
        1, ge=0, le=10, description="times the training stage is retried after a failure that may pass (an "
        "OSError such as a full disk, or a MemoryError), 10 s later; each retry resumes every network from "
        "its last checkpoint",
    )
    output_dir: Path = Field(ARTIFACTS_DIR, description="where runs/<run-name>/ and latest are written")
    # Scale-out (README, "Larger data and more machines").
    ingest_workers: int = Field(
        1, ge=1, description="processes that decode new images during ingest (1: the flow's own); more speed "
        "up large folders, the rows and hashes stay the same",
    )
    data_source: Declared[STREAMING.data_source] = "auto"
    memory_budget_mb: Declared[STREAMING.memory_budget_mb] = 2048.0

    def arguments(self, declarations: Mapping[str, Hyper]) -> dict[str, Any]:
        """The values of the fields that set hyper-parameters of `declarations` (mlp.hyper's `TRAINING`,
        `MODEL`, `DISTORTION` or `STREAMING`), by the library's names:
        ``Distortion(**params.arguments(DISTORTION))``.

        Declarations compare equal, not identical: a Prefect task's function reaches a Dask worker pickled
        by value, with copies of the tables it names (e.g. `MODEL`), and must still find its fields."""
        return {h.name: getattr(self, name) for name, h in DECLARED.items() if declarations.get(h.name) == h}


# The fields that come from a declaration: field name -> the declaration (e.g. distort_elastic -> DISTORTION's
# elastic_alpha).
DECLARED: dict[str, Hyper] = {name: hyper for name, field in PipelineParams.model_fields.items()
                              for hyper in field.metadata if isinstance(hyper, Hyper)}


def flag(name: str) -> str:
    """The command-line flag of a field: ``batch_size`` -> ``--batch-size``."""
    return "--" + name.replace("_", "-")


def valid_values(name: str) -> str:
    """What a field accepts, in words: 'a finite number in [0, 1)', 'one of sgd, adam, adamw', ..."""
    if name in DECLARED:
        return DECLARED[name].required().describe()
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
    bounds = {k: getattr(m, k) for m in field.metadata for k in ("gt", "ge", "lt", "le") if hasattr(m, k)}
    return Hyper(name, field.annotation, field.default, "", **bounds).describe()  # worded as the library's


def _shown(value: Any) -> str:
    if isinstance(value, tuple):
        return ",".join(str(v) for v in value)
    return str(value)


METAVARS = {"hidden": "N[,N...]", "members": "VIEW[,VIEW...]", "data_dir": "DIR", "output_dir": "DIR",
            "promotion_min_samples": "N", "promotion_alpha": "ALPHA", "keep_runs": "N",
            "ingest_workers": "N", "memory_budget_mb": "MB"}
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
# line alike, with the ranges of the library's epochs, lr and seed.
Iterations = Declared[TRAINING.epochs, "full-batch Adam steps"]
LearningRate = Declared[TRAINING.lr, "Adam's learning rate"]
Seed = Declared[TRAINING.seed, "seed of the initial weights"]
SINE_DEFAULTS = {"iterations": 10_000, "lr": 3e-4, "seed": 0}  # the seed design's setting


def flag_help(annotation: Any, default: Any) -> str:
    """The --help text of a flag typed `Declared[...]`: its description, default and what it accepts."""
    _, field, hyper = get_args(annotation)
    return f"{field.description} (default: {default:g}; {hyper.required().describe()})"


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
