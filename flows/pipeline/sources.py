"""Which data folder a run reads: the one given, data/raw, or the built-in digits demo."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from flows.store import layout

DEMO_NAME = "digits"


DATA_KINDS = ("given", "raw", "demo")  # --data-dir, data/raw/, the built-in digits demo


@dataclass(frozen=True)
class DataSource:
    """The data folder a run reads (``root/train/<class>/*.bmp``), how it was chosen, and its short name."""

    root: Path
    kind: str  # one of DATA_KINDS
    name: str  # for run names: the folder's name, or DEMO_NAME

    def __post_init__(self) -> None:
        if self.kind not in DATA_KINDS:
            raise ValueError(f"unknown data kind {self.kind!r}; valid: {', '.join(DATA_KINDS)}")

    def record(self) -> dict[str, str]:
        """{root, kind}, as params.json records the data of a run."""
        return {"root": str(self.root), "kind": self.kind}

    def describe(self) -> str:
        """One or two sentences for the log: which data, and how to point the pipeline at other data."""
        if self.kind == "given":
            return f"Data: {self.root} (--data-dir)."
        if self.kind == "raw":
            return f"Data: your images in {self.root}. Use --data-dir DIR to train on another folder."
        return (
            f"Data: the built-in demo, scikit-learn's 1,797 handwritten digits as 8x8 BMPs in {self.root}. "
            f"To train on your own images, put them in {layout.RAW_DIR}/train/<class>/*.bmp (optionally "
            "with a labels.txt of 'FOLDER NAME' lines) or pass --data-dir DIR."
        )


def resolve_data(data_dir: Path | None) -> DataSource:
    """The run's data: `data_dir` when given, else ``layout.RAW_DIR`` (data/raw) when it holds
    ``train/``, else the digits demo at ``layout.DEMO_DIR`` (written by
    `flows.pipeline.demo_data.write_digits_demo`)."""
    raw_dir, demo_dir = layout.RAW_DIR, layout.DEMO_DIR
    if data_dir is not None:
        root = Path(data_dir).expanduser().resolve()
        if not root.is_dir():
            raise NotADirectoryError(f"--data-dir {data_dir} is not a directory")
        return DataSource(root, "given", root.name)
    if (Path(raw_dir) / "train").is_dir():
        return DataSource(Path(raw_dir).resolve(), "raw", Path(raw_dir).resolve().name)
    return DataSource(Path(demo_dir).resolve(), "demo", DEMO_NAME)
