"""USPS digits: a small CNN classifies 16x16 grey images into 10 classes.

The 7,291 training images are split into 6,000 train and 1,291 validation images by a
permutation drawn from `torch.Generator().manual_seed(SPLIT_SEED)`; the 2,007 test images are
the test set. Pixels are in [0, 1]. The metric is accuracy in %.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn
from torch.nn import functional

from hpstudy.config import Bool, Config, Float, Int
from hpstudy.tasks.base import ACTIVATION, LAYERS, WIDTH, Splits, Task, loss_choice, make_activation
from hpstudy.tasks.usps_data import load_usps

SPLIT_SEED = 0
TRAIN_SIZE = 6000
IMAGE_SIDE = 16
CLASSES = 10


def conv_stack(cfg: Config) -> tuple[list[nn.Module], int]:
    """`layers` 3x3 convolutions, each with batch normalization (`batch_norm`), the activation
    and a 2x2 max-pool while the map is at least 2x2; returns the modules and the side of the
    last feature map."""
    modules: list[nn.Module] = []
    channels, side = 1, IMAGE_SIDE
    for _ in range(cfg.layers):
        modules.append(nn.Conv2d(channels, cfg.width, 3, padding=1))
        if cfg.batch_norm:
            modules.append(nn.BatchNorm2d(cfg.width))
        modules.append(make_activation(cfg.activation))
        if side >= 2:
            modules.append(nn.MaxPool2d(2))
            side //= 2
        channels = cfg.width
    return modules, side


def random_shift(x: torch.Tensor, most: int, generator: torch.Generator) -> torch.Tensor:
    """Images (N, C, H, W) each translated by its own (dy, dx) in [-most, most], drawn from
    `generator`; pixels shifted in are 0."""
    count, channels, height, width = x.shape
    offsets = torch.randint(0, 2 * most + 1, (2, count), generator=generator).to(x.device)
    padded = functional.pad(x, (most, most, most, most))
    rows = (offsets[0][:, None] + torch.arange(height, device=x.device))[:, None, :, None]
    cols = (offsets[1][:, None] + torch.arange(width, device=x.device))[:, None, None, :]
    images = torch.arange(count, device=x.device)[:, None, None, None]
    planes = torch.arange(channels, device=x.device)[None, :, None, None]
    return padded[images, planes, rows, cols]


class UspsTask(Task):
    """Classify handwritten digits (USPS) with `layers` convolutions of `width` channels."""

    name = "usps"
    description = "USPS digits, 10 classes, CNN; metric: accuracy (%)"
    direction = "maximize"
    metric_name = "accuracy (%)"
    params = (
        LAYERS, WIDTH, ACTIVATION, loss_choice("mse", "cross_entropy"),
        Float("dropout", 0.0, "dropout before the final linear layer", low=0.0, high=1.0,
              high_open=True),
        Bool("batch_norm", False, "batch normalization after each convolution"),
        Int("augment_shift", 0, "random translation of training images by up to this many "
            "pixels, per image and epoch (0: off)", low=0, high=4),
    )
    channels_last = True

    def load_splits(self, cfg: Config, data_dir: Path | None) -> Splits:
        arrays = load_usps(data_dir)
        x = torch.from_numpy(arrays.x_train).reshape(-1, 1, IMAGE_SIDE, IMAGE_SIDE)
        y = torch.from_numpy(arrays.y_train).long()
        order = torch.randperm(len(x), generator=torch.Generator().manual_seed(SPLIT_SEED))
        train, val = order[:TRAIN_SIZE], order[TRAIN_SIZE:]
        x_test = torch.from_numpy(arrays.x_test).reshape(-1, 1, IMAGE_SIDE, IMAGE_SIDE)
        y_test = torch.from_numpy(arrays.y_test).long()
        parts = (x[train], y[train], x[val], y[val], x_test, y_test)
        x_train, y_train, x_val, y_val, x_test, y_test = (part.contiguous() for part in parts)
        return Splits(x_train, y_train, x_val, y_val, x_test, y_test)

    def build_model(self, cfg: Config, splits: Splits) -> nn.Module:
        modules, side = conv_stack(cfg)
        head = nn.Linear(cfg.width * side * side, CLASSES)
        dropout = [nn.Dropout(cfg.dropout)] if cfg.dropout else []
        return nn.Sequential(*modules, nn.Flatten(), *dropout, head)

    def augment(self, cfg: Config, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        return random_shift(x, cfg.augment_shift, generator) if cfg.augment_shift else x

    def loss(self, cfg: Config, output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        if cfg.loss == "cross_entropy":
            return functional.cross_entropy(output, target)
        one_hot = functional.one_hot(target, CLASSES).to(output.dtype)
        return functional.mse_loss(output.softmax(dim=-1), one_hot)

    def metric(
        self, cfg: Config, output: torch.Tensor, target: torch.Tensor, splits: Splits
    ) -> float:
        return 100.0 * float((output.argmax(dim=-1) == target).double().mean())
