"""What Li et al.'s synchronous Hyperband would have cost on an unpruned search's own curves.

Every configuration of a bracket reaches a rung before any is judged (successive halving run
as if all of a rung's trainings ended at once), with hpstudy's brackets, dealing and rule
(`hpstudy.study.pruning.rules`): the best ceil(n / reduction_factor) go on. Nothing is
trained: each configuration's stored validation curve says how it ranks at a rung, and its
seconds per epoch (training steps only) what its epochs cost. One hpstudy worker that trains
all the configurations side by side prunes exactly so. An asynchronous Hyperband (several
workers, Optuna's) judges a configuration against those that reached the rung before it, so
it usually keeps a few more (the first to arrive is the best of one), and which ones depends
on the order of arrival.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hpstudy.study.pruning.rules import Entry, Hyperband, rungs, survives
from hpstudy.study.storage import Store


@dataclass(frozen=True)
class Curve:
    """One configuration as its unpruned training went: validation value after each epoch,
    and seconds per epoch in training steps."""

    config_id: str
    slot: int
    values: list[float]
    step_s_per_epoch: float

    @property
    def epochs_run(self) -> int:  # fewer than the study's epochs: it diverged
        return len(self.values)


@dataclass(frozen=True)
class Cost:
    trained: dict[str, int]  # epochs per configuration id
    step_s: float

    @property
    def epochs(self) -> int:
        return sum(self.trained.values())


def synchronous_hyperband(curves: Sequence[Curve], pruner: Hyperband, epochs: int,
                          maximize: bool) -> Cost:
    """The epochs and training-step seconds of a synchronous Hyperband over `curves`."""
    brackets: dict[int, list[Curve]] = {}
    for curve in curves:
        brackets.setdefault(pruner.bracket_of(curve.config_id, epochs, curve.slot),
                            []).append(curve)
    trained: dict[str, int] = {}
    for index, members in brackets.items():
        going = members
        for rung in rungs(pruner.brackets(epochs)[index][0], pruner.reduction_factor, epochs):
            for curve in going:
                trained[curve.config_id] = min(rung, curve.epochs_run)
            reached = [c for c in going if c.epochs_run >= rung]
            there = [Entry(c.config_id, c.values[rung - 1]) for c in reached]
            going = [c for c, me in zip(reached, there, strict=True)
                     if survives(me, [e for e in there if e is not me], maximize,
                                 pruner.reduction_factor, pruner.warmup_trials)]
        for curve in going:
            trained[curve.config_id] = curve.epochs_run
    by_id = {curve.config_id: curve for curve in curves}
    return Cost(trained, sum(n * by_id[cid].step_s_per_epoch for cid, n in trained.items()))


def sampled_trials(study_db: Path, name: str) -> list[dict[str, Any]]:
    """The user attributes of a sampled study's trainings, in slot order."""
    store = Store(f"sqlite:///{study_db}")
    try:
        trials = store.load(name).get_trials(deepcopy=False)
    finally:
        store.close()
    sampled = [t.user_attrs for t in trials if t.user_attrs.get("role") == "sampled"]
    return sorted(sampled, key=lambda attrs: attrs["slot"])


def unpruned_curves(study_db: Path, name: str) -> list[Curve]:
    """The curves of an unpruned sampled study of one seed per configuration, by slot."""
    out = []
    for attrs in sampled_trials(study_db, name):
        if result := attrs.get("result"):
            values = list(result["curves"]["val_metric"])
            out.append(Curve(attrs["config_id"], attrs["slot"], values,
                             result["train_time_s"] / max(1, len(values))))
    return out
