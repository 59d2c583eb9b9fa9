"""Dropout's cost: torch's `nn.Dropout` against hpstudy's (`hpstudy.dropout.Dropout`, four
16-bit draws per 64-bit random number), one thread.

(a) One dropout call, forward and backward, on the shapes of the USPS CNNs' last feature
map (batch x width x side x side after the convolutions).
(b) One training epoch of USPS configurations drawn from the search benchmark's space
(`hpstudy.train.Trainer`, as a study trains them), with each kind of dropout in turn.

    python bench/dropout.py [--configs 16] [--rounds 3]
"""

from __future__ import annotations

import argparse
import statistics
import time
from datetime import datetime
from typing import Any

import optuna
import torch
from torch import nn

from hpstudy.dropout import Dropout, swap_dropout
from hpstudy.tasks import get_task
from hpstudy.train import Trainer
from run import cpu_description
from search_space import SPACES, suggest

SHAPES = [(90, 27 * 2 * 2), (64, 48 * 4 * 4), (64, 48 * 8 * 8), (128, 32 * 8 * 8)]


def call_us(module: nn.Module, shape: tuple[int, int], repeats: int = 200) -> float:
    """Median microseconds of one forward and backward pass through `module`."""
    x = torch.randn(shape, requires_grad=True)
    grad = torch.ones(shape)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        torch.autograd.grad(module(x), x, grad)
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1e6


def measure_calls() -> list[dict[str, Any]]:
    rows = []
    for shape in SHAPES:
        torch_us = call_us(nn.Dropout(0.3).train(), shape)
        ours_us = call_us(Dropout(0.3).train(), shape)
        rows.append({"shape": shape, "torch_us": torch_us, "ours_us": ours_us})
    return rows


def measure_epochs(n: int, rounds: int) -> dict[str, Any]:
    """Summed seconds of one epoch of `n` drawn configurations (dropout > 0), each way,
    median over `rounds` alternations."""
    task = get_task("usps")
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    cfgs: list[Any] = []
    while len(cfgs) < n:
        params = suggest(study.ask(), SPACES["usps"])
        if params["dropout"] > 0:
            cfgs.append(task.make_config({**params, "epochs": 1}))
    splits = task.load_splits(cfgs[0], None)
    ways: dict[str, list[float]] = {"torch": [], "ours": []}
    for index in range(rounds):
        totals = dict.fromkeys(ways, 0.0)
        for cfg in cfgs:  # the two ways alternate per configuration, first by turns
            for way in sorted(ways, reverse=index % 2 == 1):
                trainer = Trainer(task, cfg, splits)
                if way == "torch":
                    swap_dropout(trainer.model, Dropout, nn.Dropout)  # back to torch's
                start = time.perf_counter()
                trainer.run_epoch()
                totals[way] += time.perf_counter() - start
        for way, total in totals.items():
            ways[way].append(total)
    return {"configs": n, "rounds": rounds, "torch_s": statistics.median(ways["torch"]),
            "ours_s": statistics.median(ways["ours"])}


def format_section(calls: list[dict[str, Any]], epochs: dict[str, Any]) -> list[str]:
    lines = ["## Dropout (`bench/dropout.py`, one thread)", "",
             f"- date: {datetime.now().isoformat(timespec='minutes')}, {cpu_description()}, "
             f"torch {torch.__version__}", "",
             "| values (batch x features) | nn.Dropout fwd+bwd (us) | hpstudy Dropout (us) "
             "| speed-up |", "|---|---:|---:|---:|"]
    for row in calls:
        rows, features = row["shape"]
        lines.append(f"| {rows} x {features} | {row['torch_us']:.0f} | {row['ours_us']:.0f} | "
                     f"{row['torch_us'] / row['ours_us']:.2f}x |")
    lines += ["", f"One training epoch (validation included) of {epochs['configs']} USPS "
              f"configurations of the search space with dropout > 0, median of "
              f"{epochs['rounds']} rounds: nn.Dropout {epochs['torch_s']:.1f} s, hpstudy "
              f"Dropout {epochs['ours_s']:.1f} s "
              f"({epochs['torch_s'] / epochs['ours_s']:.2f}x)."]
    return lines


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--configs", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    torch.set_num_threads(1)
    print("\n".join(format_section(measure_calls(), measure_epochs(args.configs, args.rounds))))
