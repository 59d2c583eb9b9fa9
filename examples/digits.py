"""A task of one's own: an MLP with dropout on scikit-learn's bundled 8x8 digits (no download).

    hpstudy tasks --task-module examples/digits.py
    hpstudy train digits --task-module examples/digits.py --set dropout=0.3
    hpstudy run examples/digits-ablation.toml --task-module examples/digits.py

The task declares the hyperparameters its model reads (`dropout` is its own; `layers`, `width`
and `activation` are hpstudy's shared declarations) and inherits the trainer's (lr, epochs,
optimizer, schedule, ...). Methods read values as attributes of the configuration: `cfg.dropout`.
"""

import torch
from sklearn.datasets import load_digits
from torch import nn
from torch.nn import functional

from hpstudy.tasks import ACTIVATION, LAYERS, WIDTH, Float, Splits, Task, make_activation


class Digits(Task):
    name = "digits"
    description = "scikit-learn's 8x8 digits, 10 classes, MLP with dropout; metric: accuracy (%)"
    direction = "maximize"
    metric_name = "accuracy (%)"
    params = (
        LAYERS,
        WIDTH,
        ACTIVATION,
        Float("dropout", 0.0, "probability of zeroing a hidden unit while training",
              low=0.0, high=1.0, high_open=True),
    )
    defaults = {"layers": 1, "width": 64, "epochs": 20, "batch_size": 32, "lr": 0.003}

    def load_splits(self, cfg, data_dir):
        digits = load_digits()
        x = torch.tensor(digits.data, dtype=torch.float32) / 16.0  # pixels in [0, 1]
        y = torch.tensor(digits.target, dtype=torch.long)
        order = torch.randperm(len(x), generator=torch.Generator().manual_seed(0))
        train, val, test = order[:1200], order[1200:1500], order[1500:]
        return Splits(x[train], y[train], x[val], y[val], x[test], y[test])

    def build_model(self, cfg, splits):
        layers, size = [], splits.x_train.shape[1]
        for _ in range(cfg.layers):
            layers += [nn.Linear(size, cfg.width), make_activation(cfg.activation),
                       nn.Dropout(cfg.dropout)]
            size = cfg.width
        return nn.Sequential(*layers, nn.Linear(size, 10))

    def loss(self, cfg, output, target):
        return functional.cross_entropy(output, target)

    def metric(self, cfg, output, target, splits):
        return 100.0 * float((output.argmax(dim=-1) == target).double().mean())


task = Digits()
