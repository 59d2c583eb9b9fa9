"""The trainings of a study preset, for the reference side of the benchmarks.

The list comes from hpstudy's own planner (the same validation and expansion `hpstudy run`
uses), so both sides of a benchmark train exactly the same configurations and seeds.
"""

from __future__ import annotations

from typing import Any

from hpstudy.study.runner import prepare
from hpstudy.study.spec import load_spec
from hpstudy.tasks import get_task

Training = tuple[dict[str, Any], int]  # (hyperparameters without the seed, seed)


def study_task(name: str) -> str:
    """The task a preset trains."""
    return load_spec(name).task


def study_trainings(name: str, repeats: int, epoch_scale: float) -> tuple[list[Training], str]:
    """The study's trainings, and where the list came from."""
    spec = load_spec(name).with_overrides(repeats, epoch_scale)
    planned = prepare(spec, get_task(spec.task), confirm_large=True).planned
    return [(dict(p.params), p.seed) for p in planned], "hpstudy"
