"""Read a stored study back as plain records (`records.py`) for status, listings and reports."""

from __future__ import annotations

from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState

from hpstudy.study.records import FAILED, RUNNING, WAITING, StudyData, TrainingRecord
from hpstudy.study.spec import StudySpec
from hpstudy.study.storage import Store
from hpstudy.study.strategies import get_strategy

ROLES = {"study": "study", "sampled": "study", "duplicate": "duplicate"}
STALE_MESSAGE = "its worker stopped responding (no heartbeat); queued again"


def to_record(trial: FrozenTrial) -> TrainingRecord:
    attrs = trial.user_attrs
    result: dict[str, Any] = attrs.get("result") or {}
    if trial.state == TrialState.WAITING:
        status = WAITING
    elif trial.state == TrialState.RUNNING:
        status = RUNNING
    else:
        status = result.get("status", FAILED)
    error = result.get("error", "")
    if trial.state == TrialState.FAIL and not result:
        error = STALE_MESSAGE
    return TrainingRecord(
        number=trial.number, status=status, params=attrs.get("params") or {},
        seed=int(attrs.get("seed", 0)), config_id=attrs.get("config_id", ""),
        train_metric=result.get("train_metric"), val_metric=result.get("val_metric"),
        train_loss=result.get("train_loss"), val_loss=result.get("val_loss"),
        train_time_s=result.get("train_time_s"), epochs_run=result.get("epochs_run"),
        curves=result.get("curves") or {}, extra=result.get("extra") or {}, error=error,
        env=result.get("env") or {}, role=ROLES.get(attrs.get("role", "study"), "study"),
        group_size=int(result.get("group_size", 1)),
    )


def read_records(study: optuna.Study) -> list[TrainingRecord]:
    """Every training the study holds (all attempts), in trial order; sampled slots that drew
    an existing configuration are left out (they trained nothing)."""
    records = (to_record(trial) for trial in study.get_trials(deepcopy=False))
    return [record for record in records if record.role != "duplicate"]


def latest_attempts(records: list[TrainingRecord]) -> list[TrainingRecord]:
    """One record per training (configuration and seed): a finished attempt if there is one,
    otherwise the latest; sampled slots without a configuration yet are kept as they are."""
    chosen: dict[tuple[str, int, str], TrainingRecord] = {}
    for record in records:
        if record.role == "duplicate":
            continue
        key = (record.config_id or f"slot-{record.number}", record.seed, record.role)
        current = chosen.get(key)
        if current is None or not current.done:
            chosen[key] = record
    return sorted(chosen.values(), key=lambda r: r.number)


def read_study(store: Store, name: str) -> StudyData:
    """The study as the report and listings see it."""
    study = store.load(name)
    attrs = study.user_attrs
    spec = StudySpec.from_dict(attrs.get("spec") or {"name": name, "task": ""})
    return StudyData(
        name=name, spec=spec,
        task=attrs.get("task", ""),
        direction=attrs.get("direction", "maximize"), metric_name=attrs.get("metric_name", ""),
        defaults=attrs.get("defaults", {}),
        records=store.retry(lambda: read_records(study), locked=False),
        final=attrs.get("final"),
        rounds={key: attrs[key] for key in get_strategy(spec.strategy).state_keys
                if key in attrs},
    )
