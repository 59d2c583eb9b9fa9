"""The trainer's hyperparameters, declared once for every task.

A task changes their defaults with `Task.defaults` (houses: batch_size 32, epochs 100) and adds
its model's own with `Task.params`. Defaults keep the report's training exactly: Adam, no
schedule, no clipping, SGD with momentum 0.9.
"""

from __future__ import annotations

from hpstudy.config import OPTIMIZERS, Choice, Float, Int, Param

SCHEDULES = ("none", "cosine", "step", "onecycle")
DEFAULT_MOMENTUM = {"sgd": 0.9, "rmsprop": 0.0}  # when `momentum` is not set
STEP_MILESTONES = (0.5, 0.75)  # `step`: the lr is multiplied by STEP_GAMMA at these fractions
STEP_GAMMA = 0.1
ONECYCLE_PCT_START = 0.3  # `onecycle` without warmup_epochs: the rise takes 30% of the steps

TRAINER_PARAMS: tuple[Param, ...] = (
    Int("batch_size", 64, "examples per optimizer step", low=1, log=True),
    Float("lr", 0.001, "learning rate (the peak rate under a schedule)", low=0.0, low_open=True,
          log=True),
    Int("epochs", 30, "passes over the training split", low=1),
    Choice("optimizer", "adam", OPTIMIZERS, "update rule (torch.optim's defaults)"),
    Float("momentum", None, "momentum of sgd and rmsprop (unset: sgd 0.9, rmsprop 0; "
          "adam and adamw ignore it)", low=0.0, high=1.0, high_open=True),
    Float("weight_decay", 0.0, "L2 penalty passed to the optimizer", low=0.0),
    Choice("schedule", "none", SCHEDULES, "learning-rate schedule over all steps: none, "
           "cosine (to 0), step (x0.1 at 50% and 75%), onecycle (lr/25 up to lr, then down)"),
    Int("warmup_epochs", 0, "epochs of linear warm-up to lr before the schedule (onecycle: "
        "its rising phase)", low=0),
    Float("grad_clip", 0.0, "clip the gradients' total L2 norm to this (0: off)", low=0.0),
    Int("seed", 0, "initial weights and shuffle order", low=0),
)


def momentum_of(optimizer: str, momentum: float | None) -> float:
    """The momentum an optimizer runs with (0 for adam and adamw, which have none)."""
    if optimizer not in DEFAULT_MOMENTUM:
        return 0.0
    return DEFAULT_MOMENTUM[optimizer] if momentum is None else momentum
