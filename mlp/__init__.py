"""mlpflow's NumPy multilayer perceptron: layers, losses, optimisers, model, trainer and checkpoints."""

__version__ = "0.1.0"
