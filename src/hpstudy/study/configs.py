"""A study's trainings grouped by configuration, for the final choice and the report.

A *configuration* is a full set of hyperparameters; with repeats it is trained once per seed.
Only finished trainings (complete or diverged) count; diverged ones count with their metrics.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from hpstudy.labels import finite, is_number, same_params
from hpstudy.study.records import DIVERGED, FAILED, PRUNED, StudyData, TrainingRecord

if TYPE_CHECKING:
    import pandas as pd

AGGREGATES = ("train", "val", "time")


def study_records(study: StudyData) -> list[TrainingRecord]:
    """The study's trainings, by number."""
    return sorted(study.records, key=lambda r: r.number)


def _mean_std(values: list[float]) -> tuple[float, float]:
    if not values:
        return math.nan, math.nan
    arr = np.asarray(values, dtype=float)
    std = float(arr.std(ddof=1)) if arr.size > 1 and np.isfinite(arr).all() else math.nan
    return float(arr.mean()), std


def _config_row(group: list[TrainingRecord]) -> dict[str, Any]:
    done = [r for r in group if r.finished]
    row: dict[str, Any] = {
        "config_id": group[0].config_id,
        "params": dict(group[0].params),
        "n": len(done),
        "diverged": sum(r.status == DIVERGED for r in group),
        "failed": sum(r.status == FAILED for r in group),
        "unfinished": sum(not r.done and r.status != FAILED for r in group),
        "pruned": sum(r.status == PRUNED for r in group),
        "val_by_seed": {r.seed: float(r.val_metric) for r in done if is_number(r.val_metric)},
    }
    sources = {"train": "train_metric", "val": "val_metric", "time": "train_time_s"}
    for name, attr in sources.items():
        values = [float(getattr(r, attr)) for r in done if is_number(getattr(r, attr))]
        row[f"{name}_mean"], row[f"{name}_std"] = _mean_std(values)
    return row


def config_table(study: StudyData) -> pd.DataFrame:
    """One row per configuration: n finished seeds, mean/std of train, val and time, counts."""
    groups: dict[str, list[TrainingRecord]] = {}
    for record in study_records(study):
        groups.setdefault(record.config_id, []).append(record)
    rows = [_config_row(group) for group in groups.values()]
    columns = ["config_id", "params", "n", "diverged", "failed", "unfinished", "pruned",
               "val_by_seed"]
    columns += [f"{a}_{s}" for a in AGGREGATES for s in ("mean", "std")]
    import pandas as pd  # imported when a table is made: `hpstudy run` starts faster

    return pd.DataFrame(rows, columns=columns)


def find_config(configs: pd.DataFrame, params: Mapping[str, Any], study: StudyData) -> int | None:
    """Row index of the configuration equal to `params`, or None."""
    for index, candidate in configs["params"].items():
        if same_params(candidate, params, study.defaults):
            return int(index)  # type: ignore[call-overload]
    return None


def has_repeats(configs: pd.DataFrame) -> bool:
    """Whether some configuration finished with more than one seed."""
    return bool(len(configs)) and int(configs["n"].max()) > 1


def trials_table(study: StudyData) -> pd.DataFrame:
    """Every study training: number, status, the searched params, seed, metrics, time, error."""
    names = list(study.spec.space) or list(study.defaults)
    rows = []
    for r in study_records(study):
        row = {"number": r.number, "status": r.status, **{k: r.params.get(k) for k in names}}
        row.update(
            seed=r.seed,
            train=r.train_metric,
            val=r.val_metric,
            time=r.train_time_s,
            epochs_run=r.epochs_run,
            stopped_at=r.stopped_at,
            error=r.error,
        )
        rows.append(row)
    columns = ["number", "status", *names, "seed", "train", "val", "time", "epochs_run",
               "stopped_at", "error"]
    import pandas as pd  # imported when a table is made: `hpstudy run` starts faster

    return pd.DataFrame(rows, columns=columns)


def ranked_configs(study: StudyData, configs: pd.DataFrame | None = None) -> pd.DataFrame:
    """Finished configurations, best mean val metric first (ties: faster first)."""
    configs = config_table(study) if configs is None else configs
    done = configs[configs["val_mean"].map(finite).astype(bool)].copy()
    done["_key"] = -done["val_mean"] if study.direction == "maximize" else done["val_mean"]
    done["_time"] = done["time_mean"].fillna(math.inf)
    ordered = done.sort_values(["_key", "_time"], kind="stable")
    return ordered.drop(columns=["_key", "_time"]).reset_index(drop=True)
