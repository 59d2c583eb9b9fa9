"""Step time of houses MLPs, measured in one process, interleaved, on one thread:
one model at a time (`hpstudy.train.Trainer`) against K models stacked (`hpstudy.batched`),
and the solo trainer's optimizer (`hpstudy.updates.DirectOptimizer`, torch's fused kernels
called directly) against torch.optim's default one.

    python bench/steps.py [--ks 1,5,32] [--epochs 3] [--repeats 5]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable, Sequence
from typing import Any

import torch

from hpstudy.batched import train_group
from hpstudy.config import Config
from hpstudy.tasks import get_task
from hpstudy.tasks.base import Splits
from hpstudy.train import Trainer


def solo_step_s(cfg: Config, splits: Splits, epochs: int, default_optimizer: bool = False
                ) -> float:
    """Seconds per optimizer step of one model trained by the solo trainer (with torch.optim's
    default implementation of the optimizer if asked)."""
    trainer = Trainer(get_task("houses"), cfg, splits)
    if default_optimizer:
        optimizer = DEFAULT_OPTIMIZERS[cfg.optimizer](trainer.params, lr=cfg.lr)
        trainer.optimizer = TorchOptimizer(optimizer, trainer.params)  # type: ignore[assignment]
    for _ in range(epochs):
        trainer.run_epoch()
    return trainer.train_time_s / (epochs * steps_per_epoch(cfg, splits))


def stacked_step_s(cfg: Config, splits: Splits, epochs: int, models: int) -> float:
    """Seconds per stacked step of `models` models (all of them updated once)."""
    cfgs = [cfg.replace(seed=seed, epochs=epochs) for seed in range(models)]
    results = train_group(get_task("houses"), cfgs, splits)
    return sum(r.train_time_s for r in results) / (epochs * steps_per_epoch(cfg, splits))


class TorchOptimizer:
    """A torch.optim optimizer behind the solo trainer's `step(grads)`."""

    def __init__(self, optimizer: torch.optim.Optimizer, params: Sequence[torch.Tensor]):
        self.optimizer, self.params = optimizer, params

    def step(self, grads: list[torch.Tensor], lr: float | None = None) -> None:
        for param, grad in zip(self.params, grads, strict=True):
            param.grad = grad
        self.optimizer.step()


DEFAULT_OPTIMIZERS: dict[str, Callable[..., torch.optim.Optimizer]] = {
    "adam": torch.optim.Adam,
    "sgd": lambda params, lr: torch.optim.SGD(params, lr=lr, momentum=0.9),
}


def measure_solo_optimizers(epochs: int, repeats: int) -> list[dict[str, Any]]:
    """Rows of {optimizer, default_us, ours_us, speedup} for the solo trainer."""
    torch.set_num_threads(1)
    task = get_task("houses")
    rows: list[dict[str, Any]] = []
    for name in DEFAULT_OPTIMIZERS:
        cfg = task.default_config().replace(optimizer=name, lr=0.001)
        splits = task.load_splits(cfg, None)
        default, ours = [], []
        for _ in range(repeats):
            default.append(solo_step_s(cfg, splits, epochs, default_optimizer=True))
            ours.append(solo_step_s(cfg, splits, epochs))
        default_us, ours_us = statistics.median(default) * 1e6, statistics.median(ours) * 1e6
        rows.append({"optimizer": name, "default_us": default_us, "ours_us": ours_us,
                     "speedup": default_us / ours_us})
    return rows


def format_solo_rows(rows: list[dict[str, Any]]) -> list[str]:
    lines = ["| optimizer | torch.optim default (us/step) | hpstudy DirectOptimizer (us/step) | "
             "speed-up |", "|---|---:|---:|---:|"]
    lines += [f"| {row['optimizer']} | {row['default_us']:.0f} | {row['ours_us']:.0f} | "
              f"{row['speedup']:.2f}x |" for row in rows]
    return lines


def steps_per_epoch(cfg: Config, splits: Splits) -> int:
    return -(-len(splits.x_train) // cfg.batch_size)


def median_of(repeats: int, measure: Callable[[], float]) -> float:
    return statistics.median(measure() for _ in range(repeats))


def measure_steps(ks: list[int], epochs: int, repeats: int) -> list[dict[str, Any]]:
    """Rows of {models, stacked_us, per_model_us, solo_us, speedup}, solo and stacked
    alternating so that both see the same machine load."""
    torch.set_num_threads(1)
    task = get_task("houses")
    cfg = task.default_config()
    splits = task.load_splits(cfg, None)
    rows = []
    for k in ks:
        solo, stacked = [], []
        for _ in range(repeats):
            solo.append(solo_step_s(cfg, splits, epochs))
            stacked.append(stacked_step_s(cfg, splits, epochs, k))
        solo_us, stacked_us = statistics.median(solo) * 1e6, statistics.median(stacked) * 1e6
        rows.append({"models": k, "stacked_us": stacked_us, "per_model_us": stacked_us / k,
                     "solo_us": solo_us, "speedup": solo_us * k / stacked_us})
    return rows


def format_rows(rows: list[dict[str, Any]]) -> list[str]:
    lines = ["| models K | stacked step (us) | per model-step (us) | solo step (us) | "
             "throughput vs solo |", "|---:|---:|---:|---:|---:|"]
    for row in rows:
        lines.append(f"| {row['models']:.0f} | {row['stacked_us']:.0f} | "
                     f"{row['per_model_us']:.1f} | {row['solo_us']:.0f} | "
                     f"{row['speedup']:.1f}x |")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ks", default="1,5,32,128")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    started = time.perf_counter()
    rows = measure_steps([int(k) for k in args.ks.split(",")], args.epochs, args.repeats)
    print("\n".join(format_rows(rows)))
    print("\n".join(format_solo_rows(measure_solo_optimizers(args.epochs, args.repeats))))
    print(f"({time.perf_counter() - started:.0f} s)")


if __name__ == "__main__":
    main()
