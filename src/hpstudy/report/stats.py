"""Statistics for the report: paired tests, Holm's correction, Pareto front, importance."""

from __future__ import annotations

import logging
import math
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import optuna
from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)
from scipy import stats

from hpstudy.labels import finite

log = logging.getLogger(__name__)

MIN_IMPORTANCE_TRIALS = 4  # fewer finished trainings than this: importance is skipped
IMPORTANCE_METHOD = "fANOVA (Optuna's FanovaImportanceEvaluator, seed 0)"


@dataclass(frozen=True)
class PairedTest:
    """A paired t-test of one configuration against the default over their common seeds."""

    pairs: int  # seeds both configurations finished
    p_value: float  # two-sided; NaN when fewer than 2 pairs or the differences are constant


def paired_test(values: Mapping[int, float], baseline: Mapping[int, float]) -> PairedTest:
    """`scipy.stats.ttest_rel` of per-seed validation metrics against the default's."""
    seeds = sorted(s for s in set(values) & set(baseline) if finite(values[s]))
    seeds = [s for s in seeds if finite(baseline[s])]
    if len(seeds) < 2:
        return PairedTest(len(seeds), math.nan)
    a = np.array([values[s] for s in seeds], dtype=float)
    b = np.array([baseline[s] for s in seeds], dtype=float)
    if np.allclose(a - b, (a - b)[0], rtol=0.0, atol=0.0):
        return PairedTest(len(seeds), math.nan)  # constant differences: the test is undefined
    return PairedTest(len(seeds), float(stats.ttest_rel(a, b).pvalue))


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm-Bonferroni adjusted p-values, in input order; NaN entries stay NaN, uncounted."""
    indexed = sorted((p, i) for i, p in enumerate(p_values) if finite(p))
    m = len(indexed)
    adjusted = [math.nan] * len(p_values)
    running = 0.0
    for rank, (p, i) in enumerate(indexed):
        running = max(running, min(1.0, (m - rank) * p))
        adjusted[i] = running
    return adjusted


def pareto_front(times: Sequence[float], values: Sequence[float], maximize: bool) -> list[int]:
    """Indices of the points no other point beats in both time (lower) and value, by time."""
    sign = 1.0 if maximize else -1.0
    order = sorted(
        (i for i in range(len(times)) if finite(times[i]) and finite(values[i])),
        key=lambda i: (times[i], -sign * values[i]),
    )
    front: list[int] = []
    best = -math.inf
    for i in order:
        if sign * values[i] > best:
            front.append(i)
            best = sign * values[i]
    return front


@dataclass(frozen=True)
class Importance:
    """Parameter importances (sum 1, most important first), or why there are none."""

    values: dict[str, float]
    note: str = ""


def param_importance(
    trials: Sequence[tuple[Mapping[str, object], float]],
    space: Mapping[str, BaseDistribution],
    direction: str,
) -> Importance:
    """Importance of the parameters that take more than one value, from (params, value) pairs;
    `space` gives each parameter's distribution (categorical, or a float or int range)."""
    usable = [(p, v) for p, v in trials if finite(v)]
    seen = {k: {repr(p.get(k)) for p, _ in usable} for k in space}
    names = [k for k in space if not space[k].single() and len(seen[k]) > 1]
    if len(usable) < MIN_IMPORTANCE_TRIALS:
        return Importance(
            {},
            f"importance skipped: {len(usable)} finished trainings with a finite metric; "
            f"at least {MIN_IMPORTANCE_TRIALS} are needed.",
        )
    if not names:
        return Importance({}, "importance skipped: no parameter takes more than one value.")
    study = _in_memory_study(usable, {k: space[k] for k in names}, direction)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            evaluator = optuna.importance.FanovaImportanceEvaluator(seed=0)
            values = optuna.importance.get_param_importances(study, evaluator=evaluator)
    except (ValueError, RuntimeError, ZeroDivisionError) as error:
        log.warning("parameter importance failed: %s", error)
        return Importance({}, f"importance skipped: {error}")
    if not all(finite(v) for v in values.values()):
        return Importance({}, "importance skipped: the metric does not vary enough.")
    return Importance({k: float(v) for k, v in values.items()})


def _covering(dist: BaseDistribution, values: Sequence[object]) -> BaseDistribution:
    """`dist` widened to hold every value (a range loses its step: fANOVA needs none)."""
    if isinstance(dist, CategoricalDistribution):
        return CategoricalDistribution(list(dict.fromkeys([*dist.choices, *values])))  # type: ignore[list-item]
    if not isinstance(dist, FloatDistribution | IntDistribution):
        return dist
    numbers = [float(v) for v in values if isinstance(v, int | float)]
    low, high = min([dist.low, *numbers]), max([dist.high, *numbers])
    if isinstance(dist, IntDistribution):
        return IntDistribution(int(low), int(high), log=dist.log)
    return FloatDistribution(low, high, log=dist.log)


def _in_memory_study(
    trials: Sequence[tuple[Mapping[str, object], float]],
    space: Mapping[str, BaseDistribution],
    direction: str,
) -> optuna.Study:
    """An in-memory Optuna study holding one complete trial per (params, value) pair."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction="maximize" if direction == "maximize" else "minimize")
    distributions = {k: _covering(d, [p.get(k) for p, _ in trials]) for k, d in space.items()}
    for params, value in trials:
        picked = {k: params.get(k) for k in space}
        study.add_trial(
            optuna.trial.create_trial(params=picked, distributions=distributions, value=value)
        )
    return study
