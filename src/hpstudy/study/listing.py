"""Plain-text views of a study's trainings (status line, trials table)."""

from __future__ import annotations

import io
from collections import Counter
from typing import Any

import optuna

from hpstudy.study.records import COMPLETE, STATUSES, TrainingRecord
from hpstudy.study.storage import Store


def study_names(store: Store) -> list[str]:
    return sorted(optuna.get_all_study_names(store.storage))


def best(records: list[TrainingRecord], direction: str) -> TrainingRecord | None:
    """The best study training trained to its end: never a diverged or pruned one (early in a
    pruned search they may be the only ones with a value)."""
    scored = [r for r in records
              if r.status == COMPLETE and r.val_metric is not None and r.role == "study"]
    if not scored:
        return None
    pick = max if direction == "maximize" else min
    return pick(scored, key=lambda r: r.val_metric or 0.0)


def status_line(records: list[TrainingRecord]) -> str:
    counts = Counter(r.status for r in records)
    parts = [f"{counts[s]} {s}" for s in STATUSES if counts[s]]
    return f"{len(records)} trainings: " + (", ".join(parts) if parts else "none yet")


def describe(params: dict[str, Any]) -> str:
    return " ".join(f"{k}={v}" for k, v in params.items())


def row(record: TrainingRecord) -> dict[str, Any]:
    """The listing's object for one training."""
    return {"number": record.number, "status": record.status, "params": record.params,
            "seed": record.seed, "train_metric": record.train_metric,
            "val_metric": record.val_metric, "train_loss": record.train_loss,
            "val_loss": record.val_loss, "train_time_s": record.train_time_s,
            "epochs_run": record.epochs_run, "role": record.role, "error": record.error}


def frame(rows: list[dict[str, Any]]) -> Any:
    """Rows as a pandas DataFrame, one column per hyperparameter (the error last)."""
    import pandas as pd  # only the listings need it
    flat = []
    for item in rows:
        entry = {k: v for k, v in item.items() if k not in ("params", "error")}
        entry.update(item["params"])
        entry["error"] = item["error"]
        flat.append(entry)
    return pd.DataFrame(flat)


def table(rows: list[dict[str, Any]], fmt: str) -> str:
    """Rows as a markdown or CSV table, one column per hyperparameter."""
    data = frame(rows)
    if fmt == "csv":
        buffer = io.StringIO()
        data.to_csv(buffer, index=False)
        return buffer.getvalue()
    return str(data.to_markdown(index=False, floatfmt=".4g")) if not data.empty else "(none)"
