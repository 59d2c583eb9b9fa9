"""The reference side of the benchmarks: textbook PyTorch, as the report's authors trained.

One training after another: a `DataLoader` over a `TensorDataset` with `shuffle=True`, an
`nn.Module`, a `torch.optim` optimizer and the usual `zero_grad / backward / step` loop, with
torch's default number of threads. The model, the loss and the data splits are the task's own
(`task.build_model`, `task.loss`, `task.load_splits`), so both sides train the same
configurations; only the training loop differs.

    python bench/reference.py train TASK [--set KEY=VALUE ...]
    python bench/reference.py study NAME [--repeats R] [--epoch-scale S]

Each command prints one JSON object on stdout.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

sys.path.insert(0, str(Path(__file__).resolve().parent))

from hpstudy.config import Config, parse_overrides  # noqa: E402
from hpstudy.tasks import Task, get_task  # noqa: E402
from hpstudy.tasks.base import Splits  # noqa: E402
from studies import study_task, study_trainings  # noqa: E402


def textbook_optimizer(cfg: Config, params: Iterable[nn.Parameter]) -> torch.optim.Optimizer:
    if cfg.optimizer == "adam":
        return torch.optim.Adam(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    if cfg.optimizer == "adamw":
        return torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    if cfg.optimizer == "rmsprop":
        return torch.optim.RMSprop(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    return torch.optim.SGD(params, lr=cfg.lr, momentum=0.9, weight_decay=cfg.weight_decay)


def train_one(task: Task, cfg: Config, splits: Splits) -> dict[str, Any]:
    """Train `cfg` the textbook way; returns its metrics and training-loop time."""
    torch.manual_seed(cfg.seed)
    model = task.build_model(cfg, splits)
    optimizer = textbook_optimizer(cfg, model.parameters())
    loader = DataLoader(TensorDataset(splits.x_train, splits.y_train),
                        batch_size=cfg.batch_size, shuffle=True)
    started = time.perf_counter()
    for _epoch in range(cfg.epochs):
        model.train()
        for x, y in loader:
            optimizer.zero_grad()
            loss = task.loss(cfg, model(x), y)
            loss.backward()
            optimizer.step()
    train_time = time.perf_counter() - started
    model.eval()
    with torch.no_grad():
        train_metric = task.metric(cfg, model(splits.x_train), splits.y_train, splits)
        val_metric = task.metric(cfg, model(splits.x_val), splits.y_val, splits)
    return {"train_metric": train_metric, "val_metric": val_metric, "train_time_s": train_time}


def run_train(task_name: str, overrides: Sequence[str]) -> dict[str, Any]:
    task = get_task(task_name)
    cfg = task.make_config(parse_overrides(overrides))
    return {"task": task_name, "params": task.params_of(cfg)} | train_one(
        task, cfg, task.load_splits(cfg, None))


def run_study(name: str, repeats: int, epoch_scale: float) -> dict[str, Any]:
    """Every configuration x seed of the study, one after another."""
    task = get_task(study_task(name))
    trainings, source = study_trainings(name, repeats, epoch_scale)
    splits: dict[Any, Splits] = {}
    train_time = 0.0
    for params, seed in trainings:
        cfg = task.default_config().replace(**params, seed=seed)
        key = task.data_key(cfg)
        if key not in splits:
            splits[key] = task.load_splits(cfg, None)
        train_time += train_one(task, cfg, splits[key])["train_time_s"]
    return {"study": name, "trainings": len(trainings), "source": source,
            "train_time_s": train_time}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="textbook PyTorch trainings (reference)")
    commands = parser.add_subparsers(dest="command", required=True)
    train = commands.add_parser("train")
    train.add_argument("task")
    train.add_argument("--set", dest="overrides", action="append", default=[])
    study = commands.add_parser("study")
    study.add_argument("name", choices=("houses-seed", "usps-seed"))
    study.add_argument("--repeats", type=int, default=1)
    study.add_argument("--epoch-scale", type=float, default=1.0)
    args = parser.parse_args(argv)
    if args.command == "train":
        result = run_train(args.task, args.overrides)
    else:
        result = run_study(args.name, args.repeats, args.epoch_scale)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
