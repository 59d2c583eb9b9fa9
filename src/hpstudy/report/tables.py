"""The report's numbers as plain data (pandas frames and dicts); no drawing, no formatting:
per-factor tables with paired tests, the sensitivity ranking and the final-choice candidates.

Only finished trainings (complete or diverged) count; see `configs` for the grouping.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from hpstudy.errors import ConfigError
from hpstudy.report import stats
from hpstudy.report.configs import (
    AGGREGATES,
    config_table,
    find_config,
    ranked_configs,
    study_records,
)
from hpstudy.report.labels import (
    better,
    describe_params,
    finite,
    fmt_metric,
    fmt_seconds,
    is_number,
    metric_short,
)
from hpstudy.study.records import StudyData

DEFAULT_TOLERANCE = 0.01


def scale_value(study: StudyData, factor: str, value: Any) -> Any:
    """A spec value as trained: epochs follow the spec's `epoch_scale`."""
    scale = study.spec.get("epoch_scale", 1.0) or 1.0
    if factor != "epochs" or scale == 1.0 or not is_number(value):
        return value
    return max(1, round(value * scale))


def factor_values(study: StudyData, factor: str, extra: list[Any] | None = None) -> list[Any]:
    """A factor's values in table order: numbers ascending, otherwise the spec's order."""
    space = [scale_value(study, factor, v) for v in study.spec.get("space", {}).get(factor, [])]
    default = study.defaults.get(factor)
    values = list(dict.fromkeys([*space, *(extra or [])]))
    if default not in values:
        values.insert(0, default)
    if all(is_number(v) for v in values):
        values.sort()
    return values


def _ablation_factors(study: StudyData, configs: pd.DataFrame) -> dict[str, list[Any]]:
    """Per factor, its values: the spec's plus any single-factor change found in the records."""
    found: dict[str, list[Any]] = {k: [] for k in study.spec.get("space", {})}
    for params in configs["params"]:
        changed = [k for k in params if params[k] != study.defaults.get(k)]
        if len(changed) == 1:
            found.setdefault(changed[0], []).append(params[changed[0]])
    return {factor: factor_values(study, factor, extra) for factor, extra in found.items()}


def _factor_row(study: StudyData, configs: pd.DataFrame, factor: str, value: Any) -> dict:
    params = {**study.defaults, factor: value}
    index = find_config(configs, params, study)
    row: dict[str, Any] = {"value": value, "is_default": value == study.defaults.get(factor)}
    empty = {"n": 0, "diverged": 0, "failed": 0, "unfinished": 0, "val_by_seed": {}}
    source = configs.loc[index].to_dict() if index is not None else empty
    for key in ("n", "diverged", "failed", "unfinished", "val_by_seed"):
        row[key] = source[key]
    for name in AGGREGATES:
        for s in ("mean", "std"):
            row[f"{name}_{s}"] = source.get(f"{name}_{s}", math.nan)
    return row


def factor_tables(study: StudyData, configs: pd.DataFrame | None = None) -> dict[str, pd.DataFrame]:
    """Per ablation factor, one row per value (appendix A/B), with paired tests when repeated.

    Columns: value, is_default, n, diverged, failed, unfinished, {train,val,time}_{mean,std},
    pairs, p_value, p_holm (Holm over every comparison of the study), is_best, and ref_train,
    ref_val, ref_time when the study has reference numbers.
    """
    configs = config_table(study) if configs is None else configs
    tables: dict[str, pd.DataFrame] = {}
    for factor, values in _ablation_factors(study, configs).items():
        rows = [_factor_row(study, configs, factor, value) for value in values]
        default_seeds: dict[int, float] = next(
            (r["val_by_seed"] for r in rows if r["is_default"]), {}
        )
        for row in rows:
            test = stats.paired_test(row["val_by_seed"], default_seeds)
            row["pairs"] = 0 if row["is_default"] else test.pairs
            row["p_value"] = math.nan if row["is_default"] else test.p_value
        table = pd.DataFrame(rows).drop(columns=["val_by_seed"])
        table["is_best"] = _best_mask(table["val_mean"].tolist(), study)
        tables[factor] = table
    _apply_holm(tables)
    if study.reference:
        tables = {f: _with_reference(study, f, t) for f, t in tables.items()}
    return tables


def _best_mask(values: list[float], study: StudyData) -> list[bool]:
    best = best_value([v for v in values if finite(v)], study)
    return [finite(v) and v == best for v in values]


def best_value(values: list[float], study: StudyData) -> float:
    """The best of `values` in the study's direction (NaN when empty)."""
    if not values:
        return math.nan
    return max(values) if study.direction == "maximize" else min(values)


def _apply_holm(tables: dict[str, pd.DataFrame]) -> None:
    keys = [(f, i) for f, t in tables.items() for i in t.index]
    adjusted = stats.holm([tables[f]["p_value"].astype(float)[i] for f, i in keys])
    for table in tables.values():
        table["p_holm"] = math.nan
    for (factor, index), p in zip(keys, adjusted, strict=True):
        tables[factor].at[index, "p_holm"] = p


def _with_reference(study: StudyData, factor: str, table: pd.DataFrame) -> pd.DataFrame:
    """The table with the reference's train/val/time beside this run's (extra values appended)."""
    refs = {}
    for row in study.reference or []:
        if row.get("factor") == factor:
            refs[scale_value(study, factor, row.get("value"))] = row
    table = table.copy()
    missing = [v for v in refs if not any(v == x for x in table["value"])]
    if missing:
        extra = pd.DataFrame({"value": missing, "is_default": False, "n": 0, "is_best": False})
        table = pd.concat([table, extra], ignore_index=True)
        if all(is_number(v) for v in table["value"]):
            table = table.sort_values("value", kind="stable").reset_index(drop=True)
    for name in AGGREGATES:
        table[f"ref_{name}"] = [_ref_number(refs, v, name) for v in table["value"]]
    return table


def _ref_number(refs: Mapping[Any, Mapping[str, Any]], value: Any, name: str) -> float:
    row = next((r for k, r in refs.items() if k == value), None)
    number = None if row is None else row.get(name)
    return float(number) if is_number(number) else math.nan


def sensitivity(study: StudyData, configs: pd.DataFrame | None = None) -> pd.DataFrame:
    """Factors by the spread (max - min) of mean val metric over their values, largest first.

    Ablations use the factor tables; other strategies the mean over trainings per value.
    Columns: factor, spread, best_value, best_val, worst_value, worst_val, values.
    """
    configs = config_table(study) if configs is None else configs
    if study.spec.get("strategy") == "ablation":
        tables = factor_tables(study, configs)
        means = {f: list(zip(t["value"], t["val_mean"], strict=True)) for f, t in tables.items()}
    else:
        means = _marginal_means(study)
    return spread_table(study, means)


def reference_sensitivity(study: StudyData) -> pd.DataFrame:
    """The sensitivity ranking of the reference numbers (same columns as `sensitivity`)."""
    means: dict[str, list[tuple[Any, float]]] = {}
    for row in study.reference or []:
        val = row.get("val")
        means.setdefault(row["factor"], []).append(
            (row["value"], float(val) if is_number(val) else math.nan)
        )
    return spread_table(study, means)


def spread_table(study: StudyData, means: Mapping[str, list[tuple[Any, float]]]) -> pd.DataFrame:
    """Factors by the spread of their (value, mean val metric) pairs, largest first."""
    rows = [_spread_row(study, f, pairs) for f, pairs in means.items()]
    columns = ["factor", "spread", "best_value", "best_val", "worst_value", "worst_val", "values"]
    frame = pd.DataFrame([r for r in rows if r is not None], columns=columns)
    return frame.sort_values("spread", ascending=False, kind="stable").reset_index(drop=True)


def _marginal_means(study: StudyData) -> dict[str, list[tuple[Any, float]]]:
    done = [r for r in study_records(study) if r.finished and finite(r.val_metric)]
    means: dict[str, list[tuple[Any, float]]] = {}
    for factor in study.spec.get("space", {}):
        values = list(dict.fromkeys(r.params.get(factor) for r in done))
        means[factor] = [
            (v, float(np.mean([r.val_metric for r in done if r.params.get(factor) == v])))
            for v in values
        ]
    return means


def _spread_row(study: StudyData, factor: str, pairs: list[tuple[Any, float]]) -> dict | None:
    pairs = [(v, m) for v, m in pairs if finite(m)]
    if len(pairs) < 2:
        return None
    best = pairs[0]
    worst = pairs[0]
    for pair in pairs[1:]:
        best = pair if better(pair[1], best[1], study) else best
        worst = pair if better(worst[1], pair[1], study) else worst
    spread = max(m for _, m in pairs) - min(m for _, m in pairs)
    return {
        "factor": factor,
        "spread": spread,
        "best_value": best[0],
        "best_val": best[1],
        "worst_value": worst[0],
        "worst_val": worst[1],
        "values": len(pairs),
    }


def final_candidates(study: StudyData, tolerance: float = DEFAULT_TOLERANCE) -> dict[str, dict]:
    """The configurations the final-choice rules pick, each with its evidence.

    - ``best``: the best mean val metric over seeds among finished configurations (ties: faster).
    - ``fast``: the fastest mean training time among configurations whose mean val metric is
      within ``tolerance * |best|`` of the best (``tolerance`` is relative to the best value's
      magnitude: 0.01 keeps accuracies >= 0.99 * best, MSEs <= 1.01 * best).
    - ``combine`` (ablations only): every factor at its best value (see `combine_params`), with
      its measured mean when the study trained that configuration, else None.

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
    picks = {
        "best": _candidate(study, "best", best, f"the best mean {_metric(study)}"),
        "fast": _candidate(study, "fast", fast, why_fast),
    }
    combined = combine_params(study)
    if combined is not None:
        picks["combine"] = _combine_candidate(study, combined)
    return picks


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


def _combine_candidate(study: StudyData, params: dict[str, Any]) -> dict[str, Any]:
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
    """For an ablation, the defaults with every factor set to its best value (ties keep the
    default); None for other strategies or when nothing finished."""
    if study.spec.get("strategy") != "ablation":
        return None
    tables = factor_tables(study)
    combined = dict(study.defaults)
    found = False
    for factor, table in tables.items():
        rows = table[table["val_mean"].map(finite).astype(bool)]
        if rows.empty:
            continue
        found = True
        best = best_value(rows["val_mean"].tolist(), study)
        winners = rows[rows["val_mean"] == best]
        if not winners["is_default"].any():
            combined[factor] = winners.iloc[0]["value"]
    return combined if found else None
