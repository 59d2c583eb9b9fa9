"""Learning-rate schedules, stepped once per optimizer step, as torch.optim.lr_scheduler has them.

The rate of every step is read off torch's own schedulers once, before training, so the trainers
apply exactly torch's schedules without torch.optim's per-step overhead:

* `none`: the base rate; `cosine`: `CosineAnnealingLR` down to 0 after the last step; `step`:
  `MultiStepLR`, times 0.1 at 50% and 75% of the steps; `onecycle`: `OneCycleLR` from lr/25 up
  to lr and down to lr/25e4 (cosine, momentum not cycled), rising over `warmup_epochs` (30% of
  the steps when 0).
* `warmup_epochs` (other schedules): a linear ramp over the first W steps, step k at
  lr (k + 1) / W, then the schedule over the remaining steps.
"""

from __future__ import annotations

import math
import warnings

import torch
from torch.optim import lr_scheduler

from hpstudy.config import Config
from hpstudy.train_params import ONECYCLE_PCT_START, STEP_GAMMA, STEP_MILESTONES


def depends_on_length(cfg: Config) -> bool:
    """Whether the rate at a step depends on the total number of epochs (then a training
    measured at an earlier epoch is not the training of that many epochs)."""
    return bool(cfg.schedule != "none")


def steps_per_epoch(examples: int, batch_size: int) -> int:
    return math.ceil(examples / batch_size)


def torch_scheduler(cfg: Config, optimizer: torch.optim.Optimizer, total: int
                    ) -> lr_scheduler.LRScheduler:
    """The torch scheduler of `cfg`'s schedule over `total` steps (its base rate: cfg.lr)."""
    warmup = min(cfg.warmup_epochs * total // cfg.epochs, total)
    if cfg.schedule == "onecycle":
        rise = warmup if warmup else round(ONECYCLE_PCT_START * total)
        return lr_scheduler.OneCycleLR(optimizer, max_lr=cfg.lr, total_steps=total,
                                       pct_start=min(max(rise, 1), total - 1) / total,
                                       cycle_momentum=False)
    rest = total - warmup
    main: lr_scheduler.LRScheduler
    if cfg.schedule == "cosine":
        main = lr_scheduler.CosineAnnealingLR(optimizer, T_max=max(rest, 1))
    elif cfg.schedule == "step":
        milestones = sorted({max(round(f * total) - warmup, 1) for f in STEP_MILESTONES})
        main = lr_scheduler.MultiStepLR(optimizer, milestones, gamma=STEP_GAMMA)
    else:
        main = lr_scheduler.LambdaLR(optimizer, lambda _: 1.0)
    if not warmup:
        return main
    ramp = lr_scheduler.LambdaLR(optimizer, lambda step: (step + 1) / warmup)
    return lr_scheduler.SequentialLR(optimizer, [ramp, main], milestones=[warmup])


def rates(cfg: Config, steps: int) -> list[float] | None:
    """The rate of each of `cfg.epochs * steps` optimizer steps; None for a constant rate."""
    if cfg.schedule == "none" and not cfg.warmup_epochs:
        return None
    total = cfg.epochs * steps
    if total < 2:
        return [cfg.lr] * total
    holder = torch.zeros(1, requires_grad=True)
    optimizer = torch.optim.SGD([holder], lr=cfg.lr)
    with warnings.catch_warnings():  # SequentialLR's deprecation notice about epoch arguments
        warnings.simplefilter("ignore", UserWarning)
        scheduler = torch_scheduler(cfg, optimizer, total)
        found = []
        for _ in range(total):
            found.append(float(optimizer.param_groups[0]["lr"]))
            optimizer.step()
            scheduler.step()
    return found
