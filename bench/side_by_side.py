"""Cost of training USPS CNNs side by side, as a pruned study does (`train_together`: one
epoch of each configuration in turn), against training them one after the other (`train`).
The configurations are drawn from the search benchmark's USPS space; one thread, one process,
the two ways alternated.

    python bench/side_by_side.py [--configs 16] [--epochs 2] [--rounds 2]
"""

from __future__ import annotations

import argparse
import statistics
import time
from typing import Any

import optuna
import torch

from hpstudy.tasks import get_task
from hpstudy.train import train, train_together
from search_space import SPACES, suggest


def draw_configs(n: int, epochs: int) -> list[Any]:
    task = get_task("usps")
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    cfgs = []
    for _ in range(n):
        params = suggest(study.ask(), SPACES["usps"])
        cfgs.append(task.make_config({**params, "epochs": epochs}))
    return cfgs


def measure(n: int = 16, epochs: int = 2, rounds: int = 2) -> dict[str, Any]:
    """Median wall time of the two ways over `rounds` alternations."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    torch.set_num_threads(1)
    task = get_task("usps")
    cfgs = draw_configs(n, epochs)
    splits = task.load_splits(cfgs[0], None)
    together, apart = [], []
    for _ in range(rounds):
        start = time.perf_counter()
        train_together(task, cfgs, splits, lambda epoch, running: set())
        together.append(time.perf_counter() - start)
        start = time.perf_counter()
        for cfg in cfgs:
            train(task, cfg, splits)
        apart.append(time.perf_counter() - start)
    return {"configs": n, "epochs": epochs, "rounds": rounds,
            "together_s": statistics.median(together), "apart_s": statistics.median(apart)}


def format_row(row: dict[str, Any]) -> str:
    ratio = row["together_s"] / row["apart_s"]
    return (f"{row['configs']} USPS configurations of the search space, {row['epochs']} epochs "
            f"each, one thread, median of {row['rounds']} rounds: side by side "
            f"{row['together_s']:.1f} s, one after the other {row['apart_s']:.1f} s "
            f"({ratio:.3f}x).")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--configs", type=int, default=16)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    print(format_row(measure(args.configs, args.epochs, args.rounds)))
