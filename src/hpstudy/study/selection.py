"""Which configurations the final-choice rules pick, and why: `best`, `fast` and, for
ablations, `combine` (every factor at its best value). The report formats what this returns."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from hpstudy.errors import ConfigError
from hpstudy.labels import describe_params, finite, fmt_metric, fmt_seconds, is_number, metric_short
from hpstudy.study.configs import config_table, find_config, ranked_configs
from hpstudy.study.records import StudyData
from hpstudy.study.space import finite_values

if TYPE_CHECKING:
    import pandas as pd

DEFAULT_TOLERANCE = 0.01


def scale_value(study: StudyData, factor: str, value: Any) -> Any:
    """A spec value as trained: epochs follow the spec's `epoch_scale`."""
    scale = study.spec.epoch_scale or 1.0
    if factor != "epochs" or scale == 1.0 or not is_number(value):
        return value
    return max(1, round(value * scale))


def factor_values(study: StudyData, factor: str, extra: list[Any] | None = None) -> list[Any]:
    """A factor's values in table order: numbers ascending, otherwise the spec's order."""
    raw = study.spec.space.get(factor)
    space = [scale_value(study, factor, v) for v in (finite_values(raw) if raw else [])]
    default = study.defaults.get(factor)
    values = list(dict.fromkeys([*space, *(extra or [])]))
    if default not in values:
        values.insert(0, default)
    if all(is_number(v) for v in values):
        values.sort()
    return values


def ablation_values(study: StudyData, configs: pd.DataFrame) -> dict[str, list[Any]]:
    """Per factor, its values: the spec's plus any single-factor change found in the records."""
    found: dict[str, list[Any]] = {k: [] for k in study.spec.space}
    for params in configs["params"]:
        changed = [k for k in params if params[k] != study.defaults.get(k)]
        if len(changed) == 1:
            found.setdefault(changed[0], []).append(params[changed[0]])
    return {factor: factor_values(study, factor, extra) for factor, extra in found.items()}


def best_value(values: list[float], study: StudyData) -> float:
    """The best of `values` in the study's direction (NaN when empty)."""
    if not values:
        return math.nan
    return max(values) if study.direction == "maximize" else min(values)


def final_candidates(study: StudyData, tolerance: float = DEFAULT_TOLERANCE) -> dict[str, dict]:
    """The configurations the `best` and `fast` rules pick, each with its evidence.

    - ``best``: the best mean val metric over seeds among finished configurations (ties: faster).
    - ``fast``: the fastest mean training time among configurations whose mean val metric is
      within ``tolerance * |best|`` of the best (``tolerance`` is relative to the best value's
      magnitude: 0.01 keeps accuracies >= 0.99 * best, MSEs <= 1.01 * best).

    Each entry: rule, params (full configuration), val_metric, train_time_s, trainings,
    explanation. Empty when no configuration finished with a finite val metric.
    """
    if not tolerance >= 0 or not math.isfinite(tolerance):
        raise ConfigError(f"The final-choice tolerance must be a number >= 0. Got {tolerance}.")
    ranked = ranked_configs(study)
    if ranked.empty:
        return {}
    best = ranked.iloc[0]
    limit = abs(best["val_mean"]) * tolerance
    close = ranked[(ranked["val_mean"] - best["val_mean"]).abs() <= limit + 1e-12]
    fast = close.loc[close["time_mean"].fillna(math.inf).idxmin()]
    why_fast = (
        f"the fastest of the {len(close)} configuration(s) whose mean {_metric(study)} "
        f"is within {tolerance * 100:g}% of the best"
    )
    return {
        "best": _candidate(study, "best", best, f"the best mean {_metric(study)}"),
        "fast": _candidate(study, "fast", fast, why_fast),
    }


def _metric(study: StudyData) -> str:
    return f"validation {metric_short(study)}"


def _candidate(study: StudyData, rule: str, row: pd.Series, why: str) -> dict[str, Any]:
    seeds = int(row["n"])
    text = (
        f"{rule}: {describe_params(row['params'], study.defaults)}: {why}: "
        f"{fmt_metric(row['val_mean'], study)} over {seeds} training(s), "
        f"training in {fmt_seconds(row['time_mean'])}."
    )
    return {
        "rule": rule,
        "params": dict(row["params"]),
        "val_metric": float(row["val_mean"]),
        "train_time_s": float(row["time_mean"]),
        "trainings": seeds,
        "explanation": text,
    }


def combine_candidate(study: StudyData, params: dict[str, Any]) -> dict[str, Any]:
    """The `combine` candidate for `params`, with its measured mean when the study trained it."""
    configs = config_table(study)
    index = find_config(configs, params, study)
    row: dict[str, Any] = {}
    if index is not None:
        row = {str(k): v for k, v in configs.loc[index].items()}
    val, time = row.get("val_mean"), row.get("time_mean")
    text = f"combine: {describe_params(params, study.defaults)}: every factor at its best value"
    if finite(val):
        text += f"; trained in the study: {fmt_metric(val, study)} over {row['n']} training(s)."
    else:
        text += "; this combination was not trained in the study."
    return {
        "rule": "combine",
        "params": params,
        "val_metric": float(val) if finite(val) else None,
        "train_time_s": float(time) if finite(val) and finite(time) else None,
        "trainings": int(row["n"]) if finite(val) else 0,
        "explanation": text,
    }


def combine_params(study: StudyData) -> dict[str, Any] | None:
    """The defaults with every factor set to its best value around them (ties keep the
    default); None when nothing finished."""
    configs = config_table(study)
    combined = dict(study.defaults)
    found = False
    for factor, values in ablation_values(study, configs).items():
        scored = []
        for value in values:
            index = find_config(configs, {**study.defaults, factor: value}, study)
            mean = configs.loc[index, "val_mean"] if index is not None else math.nan
            if finite(mean):
                scored.append((value, float(mean)))
        if not scored:
            continue
        found = True
        best = best_value([mean for _, mean in scored], study)
        winners = [value for value, mean in scored if mean == best]
        if study.defaults.get(factor) not in winners:
            combined[factor] = winners[0]
    return combined if found else None
