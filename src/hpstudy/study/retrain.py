"""Retrain one configuration on several seeds for the final choice, a process per core.

Each seed trains in its own process with one torch thread (as a study's workers train), saves
its model's state dict and hands back its train and validation numbers; the test set is never
touched here. On one core, on CUDA, or for one seed, the seeds train here, one after another.
"""

from __future__ import annotations

import concurrent.futures
import multiprocessing
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from hpstudy.study.runner import start_method
from hpstudy.tasks import Splits, Task
from hpstudy.train import Trainer


@dataclass(frozen=True)
class Job:
    task: Task
    params: dict[str, Any]
    splits: Splits
    device: str
    models_dir: Path


_job: Job | None = None  # set in each retraining process by `_start`


def default_jobs(seeds: list[int], device: str) -> int:
    return 1 if device != "cpu" else max(1, min(len(seeds), os.cpu_count() or 1))


def retrain(job: Job, seeds: list[int], jobs: int | None = None) -> dict[int, dict[str, Any]]:
    """Per seed: train `job.params` for all its epochs, save the model to
    `models_dir/seed{S}.pt` and return its train and validation numbers."""
    job.models_dir.mkdir(parents=True, exist_ok=True)
    jobs = default_jobs(seeds, job.device) if jobs is None else jobs
    if jobs <= 1 or len(seeds) <= 1:
        return {seed: _train_and_save(job, seed) for seed in seeds}
    context = multiprocessing.get_context(start_method())
    with concurrent.futures.ProcessPoolExecutor(min(jobs, len(seeds)), mp_context=context,
                                                initializer=_start, initargs=(job,)) as pool:
        return dict(zip(seeds, pool.map(_train_in_worker, seeds), strict=True))


def model_path(models_dir: Path, seed: int) -> Path:
    return models_dir / f"seed{seed}.pt"


def _start(job: Job) -> None:
    global _job
    torch.set_num_threads(1)
    _job = job


def _train_in_worker(seed: int) -> dict[str, Any]:
    assert _job is not None, "the retraining process was not started by `retrain`"
    return _train_and_save(_job, seed)


def _train_and_save(job: Job, seed: int) -> dict[str, Any]:
    cfg = job.task.make_config(job.params | {"seed": seed})
    trainer = Trainer(job.task, cfg, job.splits, job.device)
    for _ in range(cfg.epochs):
        trainer.run_epoch()
    result = trainer.snapshot("ok")
    torch.save(trainer.model.state_dict(), model_path(job.models_dir, seed))
    return {"train_metric": result.train_metric, "val_metric": result.val_metric,
            "train_time_s": result.train_time_s}
