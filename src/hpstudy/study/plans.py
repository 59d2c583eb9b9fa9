"""Plans: the configurations of a study, as the strategies build them.

Ablation, grid and coordinate studies are lists of fixed configurations known up front (a
coordinate study adds one such list per round); sampler studies hold `n_trials` open slots that
Optuna's sampler fills when a worker takes them. No configuration is planned twice.
"""

from __future__ import annotations

import hashlib
import itertools
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from optuna.distributions import BaseDistribution, CategoricalDistribution

from hpstudy.study.records import TrainingRecord
from hpstudy.study.space import Range, finite_values

if TYPE_CHECKING:
    from hpstudy.study.spec import StudySpec

GRID_CONFIRM_ABOVE = 1000


@dataclass(frozen=True)
class Planned:
    """One training to run: a full configuration (seed excluded) and a seed."""

    params: dict[str, Any]
    seed: int
    # the configuration's place in the study, the same for all its seeds (a planned study's
    # position in the plan, a sampled study's slot number); Hyperband deals brackets by it
    slot: int | None = None

    @property
    def key(self) -> tuple[str, int]:
        return config_id(self.params), self.seed


def config_id(params: dict[str, Any]) -> str:
    """A short stable id of a configuration (equal params, equal id)."""
    canonical = json.dumps(params, sort_keys=True, default=str)
    return hashlib.sha1(canonical.encode()).hexdigest()[:12]


def scale(spec: StudySpec, params: dict[str, Any]) -> dict[str, Any]:
    """`params` with the spec's epoch scale applied."""
    if "epochs" not in params or spec.epoch_scale == 1.0:
        return dict(params)
    return params | {"epochs": spec.scale_epochs(params["epochs"])}


def baseline(spec: StudySpec, task_defaults: dict[str, Any]) -> dict[str, Any]:
    """The full default configuration of the study (seed excluded, epochs scaled)."""
    base = {key: value for key, value in task_defaults.items() if key != "seed"}
    return scale(spec, base | spec.defaults)


def factor_values(spec: StudySpec, base: dict[str, Any]) -> dict[str, list[Any]]:
    """Per factor, the values it takes in this study (epochs scaled; a range's `n` points),
    the baseline's first."""
    values: dict[str, list[Any]] = {}
    for factor, raw in spec.space.items():
        scaled = [scale(spec, {factor: value})[factor] for value in finite_values(raw)]
        values[factor] = list(dict.fromkeys([base[factor], *scaled]))
    return values


def finite_distributions(spec: StudySpec, base: dict[str, Any]) -> dict[str, BaseDistribution]:
    """One categorical distribution per factor over the values `factor_values` lists."""
    return {name: CategoricalDistribution(values)
            for name, values in factor_values(spec, base).items()}


def sampled_distributions(spec: StudySpec) -> dict[str, BaseDistribution]:
    """What a sampler draws from: a range as Optuna's float or int distribution, a list as a
    categorical one over exactly its values (epochs scaled)."""
    out: dict[str, BaseDistribution] = {}
    for factor, raw in spec.space.items():
        if isinstance(raw, Range):
            if factor == "epochs":
                raw = raw.scaled(spec.scale_epochs)
            out[factor] = raw.distribution()
        else:
            values = [scale(spec, {factor: value})[factor] for value in raw]
            out[factor] = CategoricalDistribution(list(dict.fromkeys(values)))
    return out


def ablation_configs(base: dict[str, Any], values: dict[str, list[Any]]) -> list[dict[str, Any]]:
    """The baseline, then each factor's other values one at a time (no duplicates)."""
    configs = {config_id(base): base}
    for factor, choices in values.items():
        for value in choices:
            config = base | {factor: value}
            configs.setdefault(config_id(config), config)
    return list(configs.values())


def grid_configs(base: dict[str, Any], values: dict[str, list[Any]]) -> list[dict[str, Any]]:
    """Every combination of the factors' values."""
    factors = list(values)
    configs: dict[str, dict[str, Any]] = {}
    for combo in itertools.product(*(values[f] for f in factors)):
        config = base | dict(zip(factors, combo, strict=True))
        configs.setdefault(config_id(config), config)
    return list(configs.values())


def with_seeds(configs: Iterable[dict[str, Any]], repeats: int, numbered: bool = True
               ) -> list[Planned]:
    """Every configuration `repeats` times; `numbered`: each with its position as its slot."""
    return [Planned(config, seed, slot if numbered else None)
            for slot, config in enumerate(configs) for seed in range(repeats)]


def mean_by_config(records: Sequence[TrainingRecord]) -> dict[str, tuple[dict[str, Any], float]]:
    """Finished trainings' mean validation metric per configuration."""
    sums: dict[str, list[float]] = {}
    params: dict[str, dict[str, Any]] = {}
    for record in records:
        if record.finished and record.val_metric is not None and record.role == "study":
            sums.setdefault(record.config_id, []).append(record.val_metric)
            params[record.config_id] = record.params
    return {cid: (params[cid], sum(v) / len(v)) for cid, v in sums.items()}


def best_neighbour(
    base: dict[str, Any], values: dict[str, list[Any]],
    means: dict[str, tuple[dict[str, Any], float]], maximize: bool,
) -> dict[str, Any]:
    """The baseline with every factor moved to its best value found around it."""
    moved = dict(base)
    for factor, choices in values.items():
        scored = []
        for value in choices:
            cid = config_id(base | {factor: value})
            if cid in means:
                scored.append((means[cid][1], value))
        if scored:
            best = max(scored, key=lambda s: s[0]) if maximize else min(scored, key=lambda s: s[0])
            moved[factor] = best[1]
    return moved


def next_coordinate_round(
    spec: StudySpec, bases: Sequence[dict[str, Any]], records: Sequence[TrainingRecord],
    maximize: bool,
) -> tuple[dict[str, Any], list[Planned]] | None:
    """The next round of a coordinate study (after the rounds around `bases`): its new
    baseline and the trainings not yet run, or None when the round changed nothing or would
    return to an earlier baseline."""
    current_base = bases[-1]
    values = factor_values(spec, current_base)
    means = mean_by_config(records)
    new_base = best_neighbour(current_base, values, means, maximize)
    if config_id(new_base) in {config_id(base) for base in bases}:
        return None
    done = {(r.config_id, r.seed) for r in records}
    # a round is not the whole plan: its positions are no places in the study
    planned = with_seeds(ablation_configs(new_base, factor_values(spec, new_base)), spec.repeats,
                         numbered=False)
    return new_base, [p for p in planned if p.key not in done]
