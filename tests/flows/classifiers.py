"""Real classifiers for the flow tests: tiny MLPs trained on the scikit-learn digits demo (not a test module).

`digits_data` writes the demo as BMP class folders, ingests them like user data and splits them; a test then
trains models of chosen quality on the training rows and scores them on the validation rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from flows.pipeline.classifier import classifier_metadata
from flows.pipeline.demo_data import write_digits_demo
from mlp import MLP, TrainConfig, Trainer, save_checkpoint
from mlp.data import files
from mlp.data.dataset import ImageDataset
from mlp.data.split import stratified_split
from mlp.data.transforms import fit_normalizer


@dataclass(frozen=True, eq=False)
class DigitsData:
    """The demo tree on disk, its ingested data set and a stratified split (row indices)."""

    root: Path
    dataset: ImageDataset
    train: np.ndarray
    val: np.ndarray

    @property
    def X_val(self) -> np.ndarray:
        return self.dataset.X[self.val]

    @property
    def y_val(self) -> np.ndarray:
        return self.dataset.y[self.val]

    @property
    def val_hashes(self) -> np.ndarray:
        return self.dataset.hashes[self.val]

    @property
    def train_hashes(self) -> np.ndarray:
        return self.dataset.hashes[self.train]


def digits_data(folder: Path, val_fraction: float = 0.2) -> DigitsData:
    """Write the digits demo under `folder`, ingest it and split it (seed 0)."""
    root = write_digits_demo(folder / "demo")
    dataset = files.read_dataset(files.ingest(root, folder / "digits.parquet").path)
    return resplit(DigitsData(root, dataset, np.empty(0, np.int64), np.empty(0, np.int64)), 0, val_fraction)


def resplit(data: DigitsData, seed: int, val_fraction: float = 0.2) -> DigitsData:
    """The same data set split with another seed, as a run with --seed `seed` would split it."""
    rng = np.random.default_rng(seed)
    split = stratified_split(data.dataset.y, data.dataset.hashes, val_fraction=val_fraction, rng=rng)
    return DigitsData(data.root, data.dataset, split.train, split.val)


def train_checkpoint(data: DigitsData, path: Path, *, epochs: int, hidden: tuple[int, ...] = (32,),
                     seed: int = 0, class_names: tuple[str, ...] | None = None) -> Path:
    """Train an MLP [64, *hidden, 10] for `epochs` (0: left untrained) on the training rows and save it with
    the classifier metadata at `path`; `class_names` overrides the data set's (to make a model of other
    classes)."""
    ds = data.dataset
    X, y = ds.X[data.train], ds.y[data.train]
    normalizer = fit_normalizer(X)
    model = MLP([X.shape[1], *hidden, ds.n_classes], seed=seed)
    if epochs:
        config = TrainConfig(epochs=epochs, batch_size=32, seed=seed, progress=False)
        Trainer(config).fit(model, normalizer.transform(X), y)
    names = class_names or ds.class_names
    metadata = classifier_metadata([("raw", normalizer)], names, names if class_names else ds.display_names,
                                   ds.image_shape)
    return save_checkpoint(path, model, metadata=metadata | {"run_name": path.stem})
