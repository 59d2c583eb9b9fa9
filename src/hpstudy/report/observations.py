"""Sentences generated from a study's numbers: what each factor does, with its values."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from hpstudy.report.analysis import StudyAnalysis
from hpstudy.report.labels import (
    better,
    describe_params,
    finite,
    fmt_metric,
    fmt_p,
    fmt_seconds,
    fmt_value,
    metric_short,
)
from hpstudy.study.records import DIVERGED, FAILED, PRUNED, StudyData

SIGNIFICANCE = 0.05
TIME_EFFECT = 0.2  # a factor "changes training time" when times spread over 20% of the default's


def observations(analysis: StudyAnalysis) -> list[str]:
    """The study's observations, most general first."""
    out = _sensitivity_sentences(analysis)
    if analysis.ablation:
        for factor in analysis.sensitivity["factor"]:
            out.append(_factor_sentence(analysis, factor))
    else:
        out += _search_sentences(analysis)
    out += _reference_sentences(analysis)
    out += _status_sentences(analysis.study)
    return [s for s in out if s]


def _at(factor: str, value: Any) -> str:
    return f"{factor}={fmt_value(value)}"


def _sensitivity_sentences(analysis: StudyAnalysis) -> list[str]:
    study, ranking = analysis.study, analysis.sensitivity
    if ranking.empty:
        if analysis.importance is not None and analysis.importance.values:
            return []  # ranges only: the importance compares the factors
        return ["No factor has two values with finished trainings, so none can be compared."]
    name = f"validation {metric_short(study)}"
    top = ranking.iloc[0]
    lo, hi = _ends(top, study)
    out = [
        f"{top['factor']} is the most sensitive factor: {name} ranges from "
        f"{fmt_metric(lo[1], study)} ({_at(top['factor'], lo[0])}) to "
        f"{fmt_metric(hi[1], study)} ({_at(top['factor'], hi[0])})."
    ]
    if len(ranking) > 1:
        last = ranking.iloc[-1]
        lo, hi = _ends(last, study)
        out.append(
            f"{last['factor']} matters least: {name} stays between {fmt_metric(lo[1], study)} "
            f"({_at(last['factor'], lo[0])}) and {fmt_metric(hi[1], study)} "
            f"({_at(last['factor'], hi[0])})."
        )
    return out


def _ends(row: pd.Series, study: StudyData) -> tuple[tuple[Any, float], tuple[Any, float]]:
    """(value, val) at the low and high end of a sensitivity row."""
    best = (row["best_value"], row["best_val"])
    worst = (row["worst_value"], row["worst_val"])
    return (worst, best) if study.direction == "maximize" else (best, worst)


def _factor_sentence(analysis: StudyAnalysis, factor: str) -> str:
    study, table = analysis.study, analysis.factors[factor]
    rows = table[table["val_mean"].map(finite).astype(bool)]
    default = rows[rows["is_default"]]
    others = rows[~rows["is_default"]]
    if default.empty or others.empty:
        return ""
    d = default.iloc[0]
    alt = _extreme(others, "val_mean", largest=study.direction == "maximize")
    dtext = f"{fmt_metric(d['val_mean'], study)} at the default {_at(factor, d['value'])}"
    if better(alt["val_mean"], d["val_mean"], study):
        text = (
            f"{factor}: {_at(factor, alt['value'])} improves validation "
            f"{metric_short(study)} to {fmt_metric(alt['val_mean'], study)}, from {dtext}"
        )
    else:
        text = (
            f"{factor}: no value beats {dtext}; the closest, {_at(factor, alt['value'])}, "
            f"gives {fmt_metric(alt['val_mean'], study)}"
        )
    return text + _significance(alt) + "." + _time_effect(rows, factor, d)


def _extreme(frame: pd.DataFrame, column: str, largest: bool) -> pd.Series:
    """The first row holding the column's largest (or smallest) value."""
    values = frame[column].to_numpy(dtype=float)
    return frame.iloc[int(np.argmax(values) if largest else np.argmin(values))]


def _significance(row: pd.Series) -> str:
    p = row.get("p_holm", math.nan)
    if not finite(p):
        return ""
    verdict = "significant" if p < SIGNIFICANCE else "not significant"
    return f" (paired over {int(row['pairs'])} seeds, Holm-corrected p = {fmt_p(p)}: {verdict})"


def _time_effect(rows: pd.DataFrame, factor: str, default: pd.Series) -> str:
    timed = rows[rows["time_mean"].map(finite).astype(bool)]
    if len(timed) < 2 or not finite(default["time_mean"]) or default["time_mean"] <= 0:
        return ""
    fast = _extreme(timed, "time_mean", largest=False)
    slow = _extreme(timed, "time_mean", largest=True)
    if (slow["time_mean"] - fast["time_mean"]) < TIME_EFFECT * default["time_mean"]:
        return ""
    return (
        f" Training time goes from {fmt_seconds(fast['time_mean'])} "
        f"({_at(factor, fast['value'])}) to {fmt_seconds(slow['time_mean'])} "
        f"({_at(factor, slow['value'])})."
    )


def _search_sentences(analysis: StudyAnalysis) -> list[str]:
    study, ranked = analysis.study, analysis.ranked
    out = []
    if not ranked.empty:
        best = ranked.iloc[0]
        out.append(
            f"The best configuration ({describe_params(best['params'], study.defaults)}) reaches "
            f"a mean validation {metric_short(study)} of {fmt_metric(best['val_mean'], study)} "
            f"over {int(best['n'])} training(s), training in {fmt_seconds(best['time_mean'])}."
        )
    if analysis.importance is not None and analysis.importance.values:
        name, share = next(iter(analysis.importance.values.items()))
        out.append(f"By parameter importance, {name} matters most ({share:.0%} of the total).")
    return out


def _reference_sentences(analysis: StudyAnalysis) -> list[str]:
    ref = analysis.reference_sensitivity
    if ref is None or ref.empty or analysis.sensitivity.empty:
        return []
    ours, theirs = analysis.sensitivity.iloc[0]["factor"], ref.iloc[0]["factor"]
    if ours == theirs:
        return [f"As in the report, {ours} is the most sensitive factor."]
    return [f"In the report the most sensitive factor is {theirs}; here it is {ours}."]


def _status_sentences(study: StudyData) -> list[str]:
    records = study.records
    out = []
    diverged = [r for r in records if r.status == DIVERGED]
    if diverged:
        where = sorted({describe_params(r.params, study.defaults) for r in diverged})
        out.append(
            f"{len(diverged)} training(s) diverged ({'; '.join(where)}); they count as "
            "results, with the metrics they reached."
        )
    failed = [r for r in records if r.status == FAILED]
    if failed:
        first = failed[0].error.strip().splitlines()[0] if failed[0].error.strip() else "no message"
        out.append(
            f"{len(failed)} training(s) failed and are left out of every table and "
            f"figure (first error: {first})."
        )
    pruned = [r for r in records if r.status == PRUNED]
    if pruned:
        out.append(f"{len(pruned)} training(s) were pruned (stopped early by the study's "
                   "pruning rule); they are shown with the epoch they stopped at and never "
                   "chosen.")
    waiting = [r for r in records if not r.done and r.status != FAILED]
    if waiting:
        out.append(f"{len(waiting)} training(s) have not finished (running or waiting).")
    return out
