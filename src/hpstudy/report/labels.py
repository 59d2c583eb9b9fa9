"""The report's own wording (column labels, mean ± std, p-values), beside the shared wording
of values and configurations in `hpstudy.labels`."""

from __future__ import annotations

from typing import Any

from hpstudy.labels import (
    MISSING,
    better,
    decimals,
    describe_params,
    finite,
    fmt_metric,
    fmt_num,
    fmt_seconds,
    fmt_value,
    is_number,
    metric_short,
    same_params,
)
from hpstudy.study.records import StudyData

__all__ = [
    "MISSING", "better", "decimals", "describe_params", "finite", "fmt_mean_std", "fmt_metric",
    "fmt_num", "fmt_p", "fmt_seconds", "fmt_value", "is_number", "maximize", "metric_short",
    "same_params", "train_label", "val_label",
]


def train_label(study: StudyData) -> str:
    """Column label of the training-split metric, e.g. 'train accuracy (%)', 'train MSE'."""
    return f"train {study.metric_name}"


def val_label(study: StudyData) -> str:
    """Column label of the validation metric, e.g. 'val accuracy (%)', 'val MSE'."""
    return f"val {study.metric_name}"


def maximize(study: StudyData) -> bool:
    return study.direction == "maximize"


def fmt_mean_std(mean: Any, std: Any, digits: int) -> str:
    """'mean ± std' when std is known, else the mean alone."""
    text = fmt_num(mean, digits)
    if text == MISSING or not finite(std):
        return text
    return f"{text} ± {std:.{digits}f}"


def fmt_p(p: Any) -> str:
    """A p-value: three significant digits, '<0.001' below that."""
    if not finite(p):
        return MISSING
    return "<0.001" if p < 0.001 else f"{p:.3f}"
