"""Queue operations on many trials at once, one transaction each.

Optuna's storage API writes one trial, or one attribute, per transaction through its ORM: about
10 ms a call on a small machine, so queuing a study of hundreds of trainings, claiming a
vectorized group of 64 or recording its results would take seconds. These functions write the
same rows with one statement per table, through Optuna's own table definitions (its
SQLAlchemy models), so the rows are exactly those Optuna writes and reads back; every
other access goes through Optuna's API. Each function is one transaction: run it inside
`Store.retry` (which holds the SQLite write lock and retries a transaction that failed).
"""

from __future__ import annotations

import datetime
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import optuna
import sqlalchemy
from optuna.distributions import distribution_to_json
from optuna.storages import RDBStorage
from optuna.storages._rdb import models
from optuna.trial import TrialState

TRIALS = models.TrialModel.__table__
PARAMS = models.TrialParamModel.__table__
USER_ATTRS = models.TrialUserAttributeModel.__table__
VALUES = models.TrialValueModel.__table__
HEARTBEATS = models.TrialHeartbeatModel.__table__
INTERMEDIATE = models.TrialIntermediateValueModel.__table__
# trials whose intermediate values a pruning rule reads (a failed attempt's are left out)
JUDGED_STATES = (TrialState.RUNNING, TrialState.COMPLETE, TrialState.PRUNED)
STUDIES = models.StudyModel.__table__


@dataclass(frozen=True)
class Waiting:
    """A queued training as a worker sees it."""

    trial_id: int
    number: int
    user_attrs: dict[str, Any]


@dataclass(frozen=True)
class Outcome:
    """What to store for one finished training."""

    trial_id: int
    state: TrialState  # COMPLETE, PRUNED or FAIL
    value: float | None
    result: dict[str, Any]


def backend(study: optuna.Study) -> RDBStorage:
    """The RDBStorage behind a study (Optuna wraps it in a cache)."""
    storage = study._storage
    rdb = getattr(storage, "_backend", storage)
    if not isinstance(rdb, RDBStorage):
        raise TypeError(f"hpstudy studies live in an RDBStorage, not {type(rdb).__name__}")
    return rdb


def _utc_now() -> datetime.datetime:
    """Optuna stores trial times as naive UTC."""
    return datetime.datetime.now(datetime.UTC).replace(tzinfo=None)


def add_waiting(study: optuna.Study, trials: Sequence[optuna.trial.FrozenTrial],
                claimed: bool = False) -> list[int]:
    """Add WAITING trials (made by `optuna.trial.create_trial`) with their params and user
    attributes, numbered after the study's trials, as `study.add_trial` would one by one;
    returns their ids. `claimed`: add them RUNNING with a first heartbeat instead (taken by
    this worker in the same transaction, so that no other worker can take them first)."""
    if not trials:
        return []
    study_id = study._study_id
    state = TrialState.RUNNING if claimed else TrialState.WAITING
    start = _utc_now() if claimed else None
    with backend(study).engine.begin() as connection:
        # the study row's lock serializes numbering, as in Optuna's own trial creation
        connection.execute(sqlalchemy.select(STUDIES.c.study_id)
                           .where(STUDIES.c.study_id == study_id).with_for_update())
        first = connection.execute(sqlalchemy.select(sqlalchemy.func.count())
                                   .select_from(TRIALS)
                                   .where(TRIALS.c.study_id == study_id)).scalar_one()
        connection.execute(TRIALS.insert(), [
            {"number": first + i, "study_id": study_id, "state": state,
             "datetime_start": start, "datetime_complete": None} for i in range(len(trials))])
        ids: dict[int, int] = dict(connection.execute(
            sqlalchemy.select(TRIALS.c.number, TRIALS.c.trial_id)
            .where(TRIALS.c.study_id == study_id, TRIALS.c.number >= first)).all())
        params, attrs = [], []
        for i, trial in enumerate(trials):
            trial_id = ids[first + i]
            for name, value in trial.params.items():
                distribution = trial.distributions[name]
                params.append({"trial_id": trial_id, "param_name": name,
                               "param_value": distribution.to_internal_repr(value),
                               "distribution_json": distribution_to_json(distribution)})
            attrs += [{"trial_id": trial_id, "key": key, "value_json": json.dumps(value)}
                      for key, value in trial.user_attrs.items()]
        if params:
            connection.execute(PARAMS.insert(), params)
        if attrs:
            connection.execute(USER_ATTRS.insert(), attrs)
        added = [ids[first + i] for i in range(len(trials))]
        if claimed:
            connection.execute(HEARTBEATS.insert(), [{"trial_id": i} for i in added])
    return added


def waiting(study: optuna.Study, keys: Iterable[str] = ("params", "seed", "slot")
            ) -> list[Waiting]:
    """The study's WAITING trials, with the user attributes named by `keys`."""
    wanted = list(keys)
    query = (sqlalchemy.select(TRIALS.c.trial_id, TRIALS.c.number, USER_ATTRS.c.key,
                               USER_ATTRS.c.value_json)
             .select_from(TRIALS.outerjoin(USER_ATTRS, sqlalchemy.and_(
                 USER_ATTRS.c.trial_id == TRIALS.c.trial_id, USER_ATTRS.c.key.in_(wanted))))
             .where(TRIALS.c.study_id == study._study_id,
                    TRIALS.c.state == TrialState.WAITING))
    found: dict[int, tuple[int, dict[str, Any]]] = {}
    with backend(study).engine.connect() as connection:
        for trial_id, number, key, value in connection.execute(query):
            entry = found.setdefault(trial_id, (number, {}))
            if key is not None:
                entry[1][key] = json.loads(value)
    return [Waiting(trial_id, number, attrs) for trial_id, (number, attrs) in found.items()]


def config_holders(study: optuna.Study, config_id: str) -> dict[int, dict[str, Any]]:
    """Per trial number, the role and seed user attributes of the study's trials whose
    configuration id is `config_id`."""
    holders = (sqlalchemy.select(USER_ATTRS.c.trial_id)
               .where(USER_ATTRS.c.key == "config_id",
                      USER_ATTRS.c.value_json == json.dumps(config_id)))
    query = (sqlalchemy.select(TRIALS.c.number, USER_ATTRS.c.key, USER_ATTRS.c.value_json)
             .select_from(TRIALS.outerjoin(USER_ATTRS, sqlalchemy.and_(
                 USER_ATTRS.c.trial_id == TRIALS.c.trial_id,
                 USER_ATTRS.c.key.in_(["role", "seed"]))))
             .where(TRIALS.c.study_id == study._study_id, TRIALS.c.trial_id.in_(holders)))
    found: dict[int, dict[str, Any]] = {}
    with backend(study).engine.connect() as connection:
        for number, key, value in connection.execute(query):
            attrs = found.setdefault(number, {})
            if key is not None:
                attrs[key] = json.loads(value)
    return found


def state_counts(study: optuna.Study) -> dict[TrialState, int]:
    """How many of the study's trials are in each state."""
    query = (sqlalchemy.select(TRIALS.c.state, sqlalchemy.func.count())
             .where(TRIALS.c.study_id == study._study_id).group_by(TRIALS.c.state))
    with backend(study).engine.connect() as connection:
        return {state: count for state, count in connection.execute(query)}


def claim(study: optuna.Study, trial_ids: Sequence[int]) -> list[int]:
    """Move those of `trial_ids` still WAITING to RUNNING, with a first heartbeat (in the same
    transaction: a claimed trial always has one, so a dead worker's trial goes stale); returns
    the ids claimed, in the order given."""
    if not trial_ids:
        return []
    with backend(study).engine.begin() as connection:
        free = set(connection.execute(
            sqlalchemy.select(TRIALS.c.trial_id)
            .where(TRIALS.c.trial_id.in_(trial_ids), TRIALS.c.state == TrialState.WAITING)
            .order_by(TRIALS.c.trial_id).with_for_update()).scalars())  # one lock order
        won = [trial_id for trial_id in trial_ids if trial_id in free]
        if won:
            connection.execute(HEARTBEATS.delete().where(HEARTBEATS.c.trial_id.in_(won)))
            connection.execute(HEARTBEATS.insert(), [{"trial_id": trial_id} for trial_id in won])
            connection.execute(TRIALS.update().where(TRIALS.c.trial_id.in_(won))
                               .values(state=TrialState.RUNNING, datetime_start=_utc_now()))
    return won


def fill(study: optuna.Study, trial_id: int, params: dict[str, Any],
         factors: dict[str, optuna.distributions.BaseDistribution],
         user_attrs: dict[str, Any]) -> None:
    """Give a claimed open slot its drawn params (the `factors` among `params`) and user
    attributes, as `Trial.suggest_*` and `set_user_attr` would one call at a time."""
    with backend(study).engine.begin() as connection:
        connection.execute(PARAMS.insert(), [
            {"trial_id": trial_id, "param_name": name,
             "param_value": distribution.to_internal_repr(params[name]),
             "distribution_json": distribution_to_json(distribution)}
            for name, distribution in factors.items()])
        connection.execute(USER_ATTRS.insert(), [
            {"trial_id": trial_id, "key": key, "value_json": json.dumps(value)}
            for key, value in user_attrs.items()])


def beat(study: optuna.Study, trial_ids: Sequence[int]) -> None:
    """Record a heartbeat for `trial_ids` (all claimed by this worker)."""
    if trial_ids:
        with backend(study).engine.begin() as connection:
            connection.execute(HEARTBEATS.update().where(HEARTBEATS.c.trial_id.in_(trial_ids))
                               .values(heartbeat=sqlalchemy.func.current_timestamp()))


def record(study: optuna.Study, outcomes: Sequence[Outcome]) -> list[int]:
    """Store finished trainings: the `result` user attribute, the value and the final state.
    Only trials still RUNNING are written (one failed as stale meanwhile has been queued
    again); returns the ids that were not."""
    if not outcomes:
        return []
    ids = [outcome.trial_id for outcome in outcomes]
    with backend(study).engine.begin() as connection:
        running = set(connection.execute(
            sqlalchemy.select(TRIALS.c.trial_id)
            .where(TRIALS.c.trial_id.in_(ids), TRIALS.c.state == TrialState.RUNNING)
            .order_by(TRIALS.c.trial_id).with_for_update()).scalars())
        kept = [outcome for outcome in outcomes if outcome.trial_id in running]
        if kept:
            kept_ids = [outcome.trial_id for outcome in kept]
            connection.execute(USER_ATTRS.delete().where(USER_ATTRS.c.trial_id.in_(kept_ids),
                                                         USER_ATTRS.c.key == "result"))
            connection.execute(USER_ATTRS.insert(), [
                {"trial_id": o.trial_id, "key": "result", "value_json": json.dumps(o.result)}
                for o in kept])
            values = []
            for outcome in kept:
                if outcome.value is not None:
                    stored, kind = models.TrialValueModel.value_to_stored_repr(outcome.value)
                    values.append({"trial_id": outcome.trial_id, "objective": 0,
                                   "value": stored, "value_type": kind})
            if values:
                connection.execute(VALUES.delete().where(VALUES.c.trial_id.in_(kept_ids)))
                connection.execute(VALUES.insert(), values)
            _write_curves(connection, kept)
            now = _utc_now()
            for state in {outcome.state for outcome in kept}:
                connection.execute(
                    TRIALS.update()
                    .where(TRIALS.c.trial_id.in_([o.trial_id for o in kept if o.state == state]))
                    .values(state=state, datetime_complete=now))
    return [trial_id for trial_id in ids if trial_id not in running]


def _intermediate_row(trial_id: int, step: int, value: float) -> dict[str, Any]:
    stored, kind = models.TrialIntermediateValueModel.intermediate_value_to_stored_repr(value)
    return {"trial_id": trial_id, "step": step, "intermediate_value": stored,
            "intermediate_value_type": kind}


def _write_curves(connection: sqlalchemy.Connection, outcomes: Sequence[Outcome]) -> None:
    """Each training's validation curve as its Optuna intermediate values (step = epoch)."""
    rows = []
    for outcome in outcomes:
        curve = (outcome.result.get("curves") or {}).get("val_metric") or []
        rows += [_intermediate_row(outcome.trial_id, epoch, float(value))
                 for epoch, value in enumerate(curve, start=1)]
    with_curve = sorted({row["trial_id"] for row in rows})
    if with_curve:
        connection.execute(INTERMEDIATE.delete().where(INTERMEDIATE.c.trial_id.in_(with_curve)))
        connection.execute(INTERMEDIATE.insert(), rows)


def report(study: optuna.Study, step: int, values: Sequence[tuple[int, float]]) -> None:
    """Store the value of each (trial id, value) at `step`, as `Trial.report` would, for the
    trials still RUNNING (one failed as stale meanwhile keeps nothing)."""
    if not values:
        return
    ids = [trial_id for trial_id, _ in values]
    with backend(study).engine.begin() as connection:
        running = set(connection.execute(
            sqlalchemy.select(TRIALS.c.trial_id)
            .where(TRIALS.c.trial_id.in_(ids), TRIALS.c.state == TrialState.RUNNING)).scalars())
        rows = [_intermediate_row(trial_id, step, value) for trial_id, value in values
                if trial_id in running]
        if rows:
            connection.execute(INTERMEDIATE.delete().where(
                INTERMEDIATE.c.trial_id.in_([row["trial_id"] for row in rows]),
                INTERMEDIATE.c.step == step))
            connection.execute(INTERMEDIATE.insert(), rows)


def values_at(study: optuna.Study, step: int) -> list[tuple[str, int, int, float, int | None]]:
    """(config_id, seed, trial number, value, slot) of every training with a value stored at
    `step`, among those running, complete or pruned (slot: None where none is stored)."""
    config = USER_ATTRS.alias("config")
    seed = USER_ATTRS.alias("seed")
    slot = USER_ATTRS.alias("slot")
    query = (sqlalchemy.select(config.c.value_json, seed.c.value_json, TRIALS.c.number,
                               INTERMEDIATE.c.intermediate_value,
                               INTERMEDIATE.c.intermediate_value_type, slot.c.value_json)
             .select_from(TRIALS
                          .join(INTERMEDIATE, INTERMEDIATE.c.trial_id == TRIALS.c.trial_id)
                          .join(config, sqlalchemy.and_(config.c.trial_id == TRIALS.c.trial_id,
                                                        config.c.key == "config_id"))
                          .join(seed, sqlalchemy.and_(seed.c.trial_id == TRIALS.c.trial_id,
                                                      seed.c.key == "seed"))
                          .outerjoin(slot, sqlalchemy.and_(slot.c.trial_id == TRIALS.c.trial_id,
                                                           slot.c.key == "slot")))
             .where(TRIALS.c.study_id == study._study_id, TRIALS.c.state.in_(JUDGED_STATES),
                    INTERMEDIATE.c.step == step))
    with backend(study).engine.connect() as connection:
        return [(json.loads(cid), int(json.loads(sd)), number,
                 models.TrialIntermediateValueModel.stored_repr_to_intermediate_value(v, kind),
                 None if place is None else int(json.loads(place)))
                for cid, sd, number, v, kind, place in connection.execute(query)]


def on_their_way(study: optuna.Study, step: int
                 ) -> list[tuple[int, str | None, int | None, int | None]]:
    """(trial id, config_id, slot, epochs) of every running training without a value stored at
    `step` (None where not stored yet: an open slot being filled)."""
    config = USER_ATTRS.alias("config")
    slot = USER_ATTRS.alias("slot")
    params = USER_ATTRS.alias("params")
    reported = sqlalchemy.select(INTERMEDIATE.c.trial_id).where(INTERMEDIATE.c.step == step)

    def attr(alias: sqlalchemy.Alias, key: str) -> sqlalchemy.ColumnElement[bool]:
        return sqlalchemy.and_(alias.c.trial_id == TRIALS.c.trial_id, alias.c.key == key)

    query = (sqlalchemy.select(TRIALS.c.trial_id, config.c.value_json, slot.c.value_json,
                               params.c.value_json)
             .select_from(TRIALS.outerjoin(config, attr(config, "config_id"))
                          .outerjoin(slot, attr(slot, "slot"))
                          .outerjoin(params, attr(params, "params")))
             .where(TRIALS.c.study_id == study._study_id,
                    TRIALS.c.state == TrialState.RUNNING, TRIALS.c.trial_id.not_in(reported)))
    with backend(study).engine.connect() as connection:
        rows = connection.execute(query).all()
    return [(trial_id, None if cid is None else json.loads(cid),
             None if place is None else int(json.loads(place)),
             None if full is None else json.loads(full).get("epochs"))
            for trial_id, cid, place, full in rows]


def slots_of(study: optuna.Study, trial_ids: Sequence[int]) -> dict[int, int]:
    """The slot user attribute of each of `trial_ids` that has one."""
    query = sqlalchemy.select(USER_ATTRS.c.trial_id, USER_ATTRS.c.value_json).where(
        USER_ATTRS.c.trial_id.in_(list(trial_ids)), USER_ATTRS.c.key == "slot")
    with backend(study).engine.connect() as connection:
        return {trial_id: int(json.loads(value))
                for trial_id, value in connection.execute(query)}
