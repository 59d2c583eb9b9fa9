"""Wording of values, configurations and metrics, shared by the final choice (`study/`) and
the report's tables, figures and sentences (`report/`)."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any, TypeGuard

from hpstudy.study.records import StudyData

MISSING = "—"


def metric_short(study: StudyData) -> str:
    """The metric without its unit: 'accuracy' for 'accuracy (%)', 'MSE' for 'MSE'."""
    return re.sub(r"\s*\(.*\)\s*$", "", study.metric_name).strip() or study.metric_name


def decimals(study: StudyData) -> int:
    """Digits shown after the point: 2 for percentages (as appendix A), 4 otherwise (B)."""
    return 2 if "%" in study.metric_name else 4


def is_number(x: object) -> TypeGuard[float]:
    """True for a real int or float (bools excluded)."""
    return isinstance(x, int | float) and not isinstance(x, bool)


def finite(x: object) -> TypeGuard[float]:
    """True for a finite number (None, NaN and infinities excluded)."""
    return is_number(x) and math.isfinite(x)


def fmt_num(x: Any, digits: int) -> str:
    """A number with `digits` decimals; '—' when missing or NaN."""
    if not is_number(x) or math.isnan(x):
        return MISSING
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    return f"{x:.{digits}f}"


def fmt_value(value: Any) -> str:
    """A hyperparameter value as the report spells it (0.001, 1, relu)."""
    if isinstance(value, float):
        return format(value, "g")
    return str(value)


def describe_params(params: Mapping[str, Any], defaults: Mapping[str, Any]) -> str:
    """The parameters that differ from the defaults ('lr=0.01, loss=cross_entropy')."""
    changed = [
        f"{key}={fmt_value(value)}"
        for key, value in params.items()
        if key not in defaults or defaults[key] != value
    ]
    return ", ".join(changed) if changed else "the default configuration"


def same_params(a: Mapping[str, Any], b: Mapping[str, Any], defaults: Mapping[str, Any]) -> bool:
    """Equal configurations, a key missing on one side taking its default."""
    keys = set(a) | set(b)
    return all(a.get(k, defaults.get(k)) == b.get(k, defaults.get(k)) for k in keys)


def better(a: float, b: float, study: StudyData) -> bool:
    """Whether metric value `a` is strictly better than `b` in the study's direction."""
    return a > b if study.direction == "maximize" else a < b


def fmt_metric(x: Any, study: StudyData) -> str:
    """A metric value for a sentence: '98.14%' for percentages, '0.1469' otherwise."""
    text = fmt_num(x, decimals(study))
    return f"{text}%" if "%" in study.metric_name and text != MISSING else text


def fmt_seconds(x: Any) -> str:
    """A duration for a sentence: '14.52 s' ('—' when unknown)."""
    text = fmt_num(x, 2)
    return text if text == MISSING else f"{text} s"
