"""mlpflow's NumPy multilayer perceptron: layers, losses, optimisers, model, trainer and checkpoints."""

from mlp.checkpoint import Checkpoint, load_checkpoint, save_checkpoint
from mlp.config import TrainConfig
from mlp.history import EpochRecord, History
from mlp.model import MLP
from mlp.train import Trainer, evaluate

__version__ = "0.1.0"

__all__ = [
    "MLP",
    "Checkpoint",
    "EpochRecord",
    "History",
    "TrainConfig",
    "Trainer",
    "evaluate",
    "load_checkpoint",
    "save_checkpoint",
]
