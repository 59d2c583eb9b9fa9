"""The report's numbers as plain data (pandas frames and dicts); no drawing, no formatting:
per-factor tables with paired tests and the sensitivity ranking (the final-choice candidates
come from `hpstudy.study.selection`).

Only finished trainings (complete or diverged) count; see `hpstudy.study.configs`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
from optuna.distributions import BaseDistribution, CategoricalDistribution

from hpstudy.labels import better, finite, is_number
from hpstudy.report import stats
from hpstudy.study.configs import AGGREGATES, config_table, find_config, study_records
from hpstudy.study.records import StudyData
from hpstudy.study.selection import ablation_values, best_value, scale_value


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
    for factor, values in ablation_values(study, configs).items():
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


def sensitivity(study: StudyData, factors: Mapping[str, pd.DataFrame] | None = None,
                space: Mapping[str, BaseDistribution] | None = None) -> pd.DataFrame:
    """Factors by the spread (max - min) of mean val metric over their values, largest first.

    From an ablation's factor tables when given; otherwise from the mean over trainings per
    value of each factor of `space` with a finite set of values (a continuous range has one
    value per training: its parameter importance and scatter figure say more).
    Columns: factor, spread, best_value, best_val, worst_value, worst_val, values.
    """
    if factors is not None:
        means = {f: list(zip(t["value"], t["val_mean"], strict=True)) for f, t in factors.items()}
    else:
        listed = [k for k, d in (space or {}).items() if isinstance(d, CategoricalDistribution)]
        means = _marginal_means(study, listed)
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


def _marginal_means(study: StudyData, factors: list[str]) -> dict[str, list[tuple[Any, float]]]:
    done = [r for r in study_records(study) if r.finished and finite(r.val_metric)]
    means: dict[str, list[tuple[Any, float]]] = {}
    for factor in factors:
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
