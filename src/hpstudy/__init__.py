"""hpstudy: hyperparameter studies of PyTorch models, stored, reproducible and written up."""

__version__ = "0.2.0"
