"""The task contract: declared hyperparameters, data splits, a model builder, a loss and a
metric.

A task knows nothing about training loops, studies or reports. To add one, subclass `Task`
(see README, "Your own task") and expose an instance as the module attribute `task`. Its
`params` declare the model's hyperparameters (the trainer's are added to them); every method
receives the configuration as a `Config` and reads values as attributes (`cfg.dropout`).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Hashable
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import torch
from torch import nn

from hpstudy.config import ACTIVATIONS, Choice, Config, Int, Param, Space
from hpstudy.train_params import TRAINER_PARAMS

# Declarations that MLP- and CNN-like tasks share; a task lists those it uses in `params`.
LAYERS = Int("layers", 2, "hidden layers", low=1)
WIDTH = Int("width", 16, "units or channels per hidden layer", low=1, log=True)
ACTIVATION = Choice("activation", "relu", ACTIVATIONS, "activation after each hidden layer")


def loss_choice(*names: str) -> Param:
    """The `loss` hyperparameter of a task that offers these training losses (first: default)."""
    return Choice("loss", names[0], names, "training loss")


@dataclass
class Splits:
    """Train, validation and test tensors held in memory (inputs `x_*`, targets `y_*`)."""

    x_train: torch.Tensor
    y_train: torch.Tensor
    x_val: torch.Tensor
    y_val: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    info: dict[str, float] = field(default_factory=dict)  # e.g. target mean/std

    def to(self, device: torch.device | str) -> Splits:
        """The same splits on another device."""
        moved = {name: getattr(self, name).to(device) for name in self.tensor_names()}
        return Splits(**moved, info=dict(self.info))

    @staticmethod
    def tensor_names() -> tuple[str, ...]:
        return ("x_train", "y_train", "x_val", "y_val", "x_test", "y_test")


def make_activation(name: str) -> nn.Module:
    """The activation module for a validated name."""
    modules: dict[str, type[nn.Module]] = {
        "relu": nn.ReLU,
        "sigmoid": nn.Sigmoid,
        "tanh": nn.Tanh,
        "leaky_relu": nn.LeakyReLU,
        "gelu": nn.GELU,
        "elu": nn.ELU,
        "silu": nn.SiLU,
    }
    return modules[name]()


class Task(ABC):
    """A learning problem hpstudy can tune. Subclasses fill in the attributes and methods."""

    name: str = ""
    description: str = ""
    direction: str = "maximize"  # "maximize" or "minimize" the metric
    metric_name: str = "metric"
    params: tuple[Param, ...] = ()  # the model's hyperparameters; the trainer's are added
    defaults: dict[str, Any] = {}  # other defaults for declared ones (the trainer's included)
    channels_last: bool = False  # run the model in channels_last memory format

    @cached_property
    def space(self) -> Space:
        """Every hyperparameter of this task: its own `params`, then the trainer's."""
        return Space(self.name, (*self.params, *TRAINER_PARAMS), self.defaults)

    @property
    def param_names(self) -> tuple[str, ...]:
        return self.space.names

    def default_config(self) -> Config:
        return self.space.config()

    def make_config(self, overrides: dict[str, Any] | None = None) -> Config:
        """The task's defaults with checked `overrides` applied."""
        return self.space.config(overrides)

    def params_of(self, cfg: Config) -> dict[str, Any]:
        """The configuration as a plain dict."""
        return cfg.as_dict()

    def data_key(self, cfg: Config) -> Hashable:
        """Which values change the splits; equal keys share one `load_splits` result."""
        return ()

    def augment(self, cfg: Config, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """The training inputs of one epoch, transformed (e.g. randomly shifted) with random
        numbers drawn from `generator` only; never called on validation or test inputs. The
        default leaves them as they are."""
        return x

    def stackable(self, cfg: Config) -> bool:
        """Whether `build_model(cfg)` is a Sequential of Linear layers with one activation
        between them (each optionally followed by one nn.Dropout of one probability), so that
        trainings of it can be vectorized (`hpstudy.batched`)."""
        return False

    def plain_mse(self, cfg: Config) -> bool:
        """Whether `loss(cfg, output, target)` is exactly `functional.mse_loss(output, target)`
        (the vectorized trainer then computes its gradient directly)."""
        return False

    @abstractmethod
    def load_splits(self, cfg: Config, data_dir: Path | None) -> Splits:
        """Read the data and return the three splits as tensors."""

    @abstractmethod
    def build_model(self, cfg: Config, splits: Splits) -> nn.Module:
        """A freshly initialised model (the caller seeds torch first)."""

    @abstractmethod
    def loss(self, cfg: Config, output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """The training loss, averaged over the leading batch dimension(s)."""

    @abstractmethod
    def metric(
        self, cfg: Config, output: torch.Tensor, target: torch.Tensor, splits: Splits
    ) -> float:
        """The task's metric (accuracy in %, MSE ...) of a whole split."""

    def extra_metrics(
        self, cfg: Config, output: torch.Tensor, target: torch.Tensor, splits: Splits
    ) -> dict[str, float]:
        """Further numbers worth reporting for a split (none by default)."""
        return {}
