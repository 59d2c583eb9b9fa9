"""House prices regression: an MLP on four features of the Ames sales (bundled CSV).

Rows 0-999 train, 1000-1199 validation, 1200-1459 test, in file order. With `normalize`
(the default) features and target are standardized with the training mean and std. The metric
is the MSE on the standardized target whatever `normalize` says, so runs stay comparable; the
RMSE in dollars is reported beside it.
"""

from __future__ import annotations

from collections.abc import Hashable
from importlib import resources
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.nn import functional

from hpstudy.config import Bool, Config, Float
from hpstudy.errors import DataError
from hpstudy.tasks.base import ACTIVATION, LAYERS, WIDTH, Splits, Task, loss_choice, make_activation

FEATURES = ("OverallQual", "YearBuilt", "TotalBsmtSF", "GrLivArea")
TARGET = "SalePrice"
TRAIN_ROWS, VAL_ROWS = 1000, 200
MIN_VARIANCE = 1e-6


def read_house_prices() -> np.ndarray:
    """The bundled CSV as a float64 array with columns FEATURES + (TARGET,)."""
    source = resources.files("hpstudy.tasks").joinpath("house_prices.csv")
    try:
        with source.open("r") as handle:
            header = handle.readline().strip().split(",")
            table = np.loadtxt(handle, delimiter=",", dtype=np.float64)
    except (OSError, ValueError) as exc:
        raise DataError(f"The bundled house_prices.csv cannot be read: {exc}") from exc
    order = [header.index(name) for name in (*FEATURES, TARGET)]
    return table[:, order]


class HousesTask(Task):
    """Predict the sale price from quality, year built, basement and living area."""

    name = "houses"
    description = "House price regression (Ames, 4 features), MLP; metric: MSE, standardized"
    direction = "minimize"
    metric_name = "MSE"
    params = (LAYERS, WIDTH, ACTIVATION, loss_choice("mse", "gaussian_nll"),
              Bool("normalize", True, "standardize features and target with training mean/std"),
              Float("dropout", 0.0, "dropout after each hidden layer", low=0.0, high=1.0,
                    high_open=True))
    defaults = {"layers": 3, "width": 16, "batch_size": 32, "epochs": 100}

    def data_key(self, cfg: Config) -> Hashable:
        return cfg.normalize

    def stackable(self, cfg: Config) -> bool:
        return type(self).build_model is HousesTask.build_model

    def plain_mse(self, cfg: Config) -> bool:
        return type(self).loss is HousesTask.loss and cfg.loss == "mse"

    def load_splits(self, cfg: Config, data_dir: Path | None) -> Splits:
        table = read_house_prices()
        x, y = table[:, :-1], table[:, -1]
        x_mean, x_std = x[:TRAIN_ROWS].mean(0), x[:TRAIN_ROWS].std(0)
        y_mean, y_std = float(y[:TRAIN_ROWS].mean()), float(y[:TRAIN_ROWS].std())
        if cfg.normalize:
            x, y = (x - x_mean) / x_std, (y - y_mean) / y_std
        bounds = (0, TRAIN_ROWS, TRAIN_ROWS + VAL_ROWS, len(table))
        parts = []
        for start, stop in zip(bounds[:-1], bounds[1:], strict=True):
            parts.append(torch.tensor(x[start:stop], dtype=torch.float32))
            parts.append(torch.tensor(y[start:stop], dtype=torch.float32).unsqueeze(1))
        info = {"y_mean": y_mean, "y_std": y_std, "normalized": float(cfg.normalize)}
        x_train, y_train, x_val, y_val, x_test, y_test = parts
        return Splits(x_train, y_train, x_val, y_val, x_test, y_test, info=info)

    def build_model(self, cfg: Config, splits: Splits) -> nn.Module:
        sizes = [splits.x_train.shape[1]] + [cfg.width] * cfg.layers
        modules: list[nn.Module] = []
        for fan_in, fan_out in zip(sizes[:-1], sizes[1:], strict=True):
            modules += [nn.Linear(fan_in, fan_out), make_activation(cfg.activation)]
            if cfg.dropout:
                modules.append(nn.Dropout(cfg.dropout))
        modules.append(nn.Linear(sizes[-1], 2 if cfg.loss == "gaussian_nll" else 1))
        return nn.Sequential(*modules)

    def loss(self, cfg: Config, output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        if cfg.loss == "gaussian_nll":
            mean, variance = output[..., :1], functional.softplus(output[..., 1:]) + MIN_VARIANCE
            return functional.gaussian_nll_loss(mean, target, variance)
        return functional.mse_loss(output, target)

    def standardized_error(
        self, output: torch.Tensor, target: torch.Tensor, splits_info: dict[str, float]
    ) -> float:
        """MSE of the predicted mean, in units of the standardized target."""
        error = output[..., :1] - target
        if not splits_info.get("normalized", 1.0):
            error = error / splits_info["y_std"]
        return float(error.double().pow(2).mean())

    def metric(
        self, cfg: Config, output: torch.Tensor, target: torch.Tensor, splits: Splits
    ) -> float:
        return self.standardized_error(output, target, splits.info)

    def extra_metrics(
        self, cfg: Config, output: torch.Tensor, target: torch.Tensor, splits: Splits
    ) -> dict[str, float]:
        mse = self.standardized_error(output, target, splits.info)
        return {"rmse_dollars": float(np.sqrt(mse) * splits.info["y_std"])}
