"""The task contract: data splits, a model builder, a loss and a metric.

A task knows nothing about training loops, studies or reports. To add one, subclass `Task`
(see README, "Your own task") and expose an instance as the module attribute `task`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Hashable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from hpstudy.config import ACTIVATIONS, OPTIMIZERS, TrainConfig, validate_params

COMMON_PARAMS = (
    "layers",
    "width",
    "activation",
    "batch_size",
    "lr",
    "epochs",
    "optimizer",
    "loss",
    "seed",
    "weight_decay",
)


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
    losses: tuple[str, ...] = ("mse",)
    extra_params: tuple[str, ...] = ()  # TrainConfig fields beyond COMMON_PARAMS
    defaults: dict[str, Any] = {}  # overrides of TrainConfig defaults
    channels_last: bool = False  # run the model in channels_last memory format

    @property
    def param_names(self) -> tuple[str, ...]:
        return COMMON_PARAMS + self.extra_params

    @property
    def choices(self) -> dict[str, tuple[Any, ...]]:
        return {"activation": ACTIVATIONS, "optimizer": OPTIMIZERS, "loss": self.losses}

    def default_config(self) -> TrainConfig:
        return TrainConfig(**self.defaults)

    def make_config(self, overrides: dict[str, Any] | None = None) -> TrainConfig:
        """The task's defaults with validated `overrides` applied."""
        checked = validate_params(self.name, self.param_names, overrides or {}, self.choices)
        return self.default_config().replace(**checked)

    def params_of(self, cfg: TrainConfig) -> dict[str, Any]:
        """The hyperparameters this task uses, as a plain dict."""
        return cfg.as_dict(self.param_names)

    def data_key(self, cfg: TrainConfig) -> Hashable:
        """Which config fields change the splits; equal keys share one `load_splits` result."""
        return ()

    @abstractmethod
    def load_splits(self, cfg: TrainConfig, data_dir: Path | None) -> Splits:
        """Read the data and return the three splits as tensors."""

    @abstractmethod
    def build_model(self, cfg: TrainConfig, splits: Splits) -> nn.Module:
        """A freshly initialised model (the caller seeds torch first)."""

    @abstractmethod
    def loss(self, cfg: TrainConfig, output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """The training loss, averaged over the leading batch dimension(s)."""

    @abstractmethod
    def metric(
        self, cfg: TrainConfig, output: torch.Tensor, target: torch.Tensor, splits: Splits
    ) -> float:
        """The task's metric (accuracy in %, MSE ...) of a whole split."""

    def extra_metrics(
        self, cfg: TrainConfig, output: torch.Tensor, target: torch.Tensor, splits: Splits
    ) -> dict[str, float]:
        """Further numbers worth reporting for a split (none by default)."""
        return {}
