"""Cost of USPS's `augment_shift`: the training loop's time per epoch of the default CNN, with
and without random shifts, measured in one process, interleaved, on one thread.

    python bench/augment.py [--epochs 5] [--shift 2]
"""

from __future__ import annotations

import argparse
import statistics
from typing import Any

import torch

from hpstudy.tasks import get_task
from hpstudy.train import Trainer


def epoch_times(shift: int, epochs: int) -> list[float]:
    """Seconds of the training loop (shuffle, shifts, steps) in each of `epochs` epochs."""
    task = get_task("usps")
    cfg = task.make_config({"augment_shift": shift, "epochs": epochs})
    trainer = Trainer(task, cfg, task.load_splits(cfg, None))
    times = []
    for _ in range(epochs):
        before = trainer.train_time_s
        trainer.run_epoch()
        times.append(trainer.train_time_s - before)
    return times


def measure(shift: int = 2, epochs: int = 5, rounds: int = 3) -> dict[str, Any]:
    """Median epoch time without and with shifts, alternating the two `rounds` times."""
    torch.set_num_threads(1)
    plain: list[float] = []
    shifted: list[float] = []
    for _ in range(rounds):
        plain += epoch_times(0, epochs)
        shifted += epoch_times(shift, epochs)
    off, on = statistics.median(plain), statistics.median(shifted)
    return {"shift": shift, "off_s": off, "on_s": on, "slowdown": on / off - 1.0,
            "epochs": len(plain)}


def format_row(row: dict[str, Any]) -> str:
    return (f"USPS default CNN, one thread, median of {row['epochs']} epochs each: "
            f"{row['off_s'] * 1e3:.0f} ms per epoch without shifts, {row['on_s'] * 1e3:.0f} ms "
            f"with augment_shift={row['shift']}: {100 * row['slowdown']:+.1f}% "
            f"(target: at most +10%).")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--shift", type=int, default=2)
    args = parser.parse_args()
    print(format_row(measure(args.shift, args.epochs)))
