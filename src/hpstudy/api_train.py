"""`hpstudy.train`: one training of one configuration, as `hpstudy train` does it."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from hpstudy import batched
from hpstudy.config import Config
from hpstudy.errors import ConfigError
from hpstudy.progress import progress_view
from hpstudy.runtime import check_data_dir, resolve_cuda, set_threads
from hpstudy.tasks import Splits, Task, get_task, register_task
from hpstudy.train import (
    DEFAULT_CHANCE_PATIENCE,
    EpochCallback,
    TrialResult,
    resolve_device,
    train,
)


def train_config(task: Task | str, params: dict[str, Any] | None = None, *,
                 data_dir: Path | str | None = None, device: str = "auto",
                 threads: int | None = None, chance_patience: int = DEFAULT_CHANCE_PATIENCE,
                 progress: bool = True) -> TrialResult:
    """Train `task` (a name or a Task instance) with its defaults and `params` applied; returns
    the metrics, losses, curves and time. Torch threads: `threads`, else one for an MLP
    (fastest) and every core for a CNN. `progress`: an epoch bar (terminal or notebook)."""
    chosen = register_task(task) if isinstance(task, Task) else get_task(task)
    cfg = chosen.make_config(params)
    folder = check_data_dir(data_dir)
    vectorizable = batched.group_key(chosen, cfg) is not None
    set_threads(threads or (1 if vectorizable else os.cpu_count()))
    where = resolve_cuda(resolve_device(device))
    splits = chosen.load_splits(cfg, folder)
    if chance_patience < 0:
        raise ConfigError(f"--chance-patience must be an int >= 0. Got {chance_patience}.")
    view = progress_view(progress)
    if view is None:
        return train_one(chosen, cfg, splits, where, chance_patience, vectorizable)
    view.start(f"{chosen.name} epochs", cfg.epochs, transient=True)

    def on_epoch(epoch: int, total: int, val_metric: float) -> None:
        view.update(epoch, total, f"val {val_metric:.4g}")

    try:
        result = train_one(chosen, cfg, splits, where, chance_patience, vectorizable, on_epoch)
        view.update(cfg.epochs, cfg.epochs, f"val {result.val_metric:.4g}")
    finally:
        view.stop()
    return result


def train_one(task: Task, cfg: Config, splits: Splits, device: str, patience: int,
              vectorizable: bool, on_epoch: EpochCallback | None = None) -> TrialResult:
    """One training; an MLP goes through the vectorized trainer (a stack of one model),
    whose steps are several times cheaper than torch.optim's."""
    if vectorizable:
        return batched.train_group(task, [cfg], splits, device=device, chance_patience=patience)[0]
    return train(task, cfg, splits, device=device, chance_patience=patience, on_epoch=on_epoch)
