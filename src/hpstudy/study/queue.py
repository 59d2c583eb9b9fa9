"""The shared queue of trainings, kept in the study's database.

Planned trainings are Optuna trials in state WAITING. A worker, on any machine, claims one by
moving it to RUNNING (an atomic update that only one worker can win), keeps a heartbeat while it
trains, and records the result. A worker that dies stops its heartbeat; its training is then
failed and queued again by Optuna's stale-trial callback.
"""

from __future__ import annotations

import functools
import logging
import math
import threading
from collections.abc import Sequence
from typing import Any

import optuna
from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
    distribution_to_json,
    json_to_distribution,
)
from optuna.samplers import BaseSampler
from optuna.storages import fail_stale_trials
from optuna.trial import TrialState

from hpstudy.study import bulk
from hpstudy.study.plans import Planned, config_id
from hpstudy.study.records import COMPLETE, DIVERGED, FAILED, PRUNED
from hpstudy.study.storage import Store

log = logging.getLogger(__name__)
SAMPLED = "sampled"  # role of an open slot whose configuration a sampler picks
DUPLICATE = "duplicate"  # a sampled slot that drew a configuration already in the study
MAX_SLOTS_FACTOR = 10  # at most this many slots per wanted configuration (small spaces)


def distributions(study: optuna.Study) -> dict[str, BaseDistribution]:
    """Per factor, the distribution stored with the study (studies stored before ranges
    existed hold categorical `factor_values`)."""
    stored: dict[str, str] | None = study.user_attrs.get("distributions")
    if stored is not None:
        return {name: json_to_distribution(text) for name, text in stored.items()}
    values: dict[str, list[Any]] = study.user_attrs.get("factor_values", {})
    return {name: CategoricalDistribution(choices) for name, choices in values.items()}


def distributions_to_json(dists: dict[str, BaseDistribution]) -> dict[str, str]:
    return {name: distribution_to_json(dist) for name, dist in dists.items()}


def queued_keys(study: optuna.Study) -> set[tuple[str, int]]:
    """(config_id, seed) of every training the study holds, in any state."""
    keys = set()
    for trial in study.get_trials(deepcopy=False):
        if "config_id" in trial.user_attrs:
            keys.add((trial.user_attrs["config_id"], trial.user_attrs["seed"]))
    return keys


def enqueue(store: Store, study: optuna.Study, planned: Sequence[Planned], role: str = "study"
            ) -> int:
    """Queue the trainings the study does not hold yet (in one transaction); returns how
    many were added."""
    return len(_add(store, study, planned, role, claimed=False))


def enqueue_claimed(store: Store, study: optuna.Study, planned: Sequence[Planned]
                    ) -> list[tuple[int, Planned]]:
    """Add the trainings the study does not hold yet as claimed by this worker (running, with
    a first heartbeat, in one transaction); returns (trial id, training) of those added."""
    return _add(store, study, planned, "study", claimed=True)


def _add(store: Store, study: optuna.Study, planned: Sequence[Planned], role: str,
         claimed: bool) -> list[tuple[int, Planned]]:
    if not planned:
        return []
    factors = distributions(study)
    held = store.retry(lambda: queued_keys(study), locked=False)
    new: list[optuna.trial.FrozenTrial] = []
    added: list[Planned] = []
    for item in planned:
        if item.key in held:
            continue
        added.append(item)
        attrs = {"params": item.params, "seed": item.seed, "config_id": item.key[0], "role": role}
        if item.slot is not None:
            attrs["slot"] = item.slot
        new.append(optuna.trial.create_trial(
            state=TrialState.WAITING, params={name: item.params[name] for name in factors},
            distributions=factors, user_attrs=attrs))
        held.add(item.key)
    ids = store.retry(lambda: bulk.add_waiting(study, new, claimed))
    return list(zip(ids, added, strict=True))


def enqueue_slots(store: Store, study: optuna.Study, count: int) -> int:
    """Queue open slots for a sampler up to `count` configurations in all."""
    if count == 0:
        return 0
    slots = {t.user_attrs.get("slot") for t in study.get_trials(deepcopy=False)
             if t.user_attrs.get("role") in (SAMPLED, DUPLICATE)}
    new = [optuna.trial.create_trial(state=TrialState.WAITING, user_attrs={
        "role": SAMPLED, "slot": slot, "seed": 0}) for slot in range(count) if slot not in slots]
    store.retry(lambda: bulk.add_waiting(study, new))  # one transaction for them all
    return len(new)


def close_if_duplicate(store: Store, study: optuna.Study, trial_id: int, number: int,
                       cid: str, space_size: float, n_trials: int) -> bool:
    """Close a sampled slot whose configuration the study already holds: it is told the value
    already measured (so the sampler learns) and is not trained; a new slot replaces it while
    the space has configurations left. Returns whether the slot was closed."""
    holders = store.retry(lambda: bulk.config_holders(study, cid), locked=False)
    earlier_numbers = sorted(other for other, attrs in holders.items() if other != number
                             and attrs.get("seed") == 0 and attrs.get("role") != DUPLICATE)
    if not earlier_numbers:
        return False  # the common case, answered without reading every trial
    trials = study.get_trials(deepcopy=False)  # read once: closing changes no key used below
    earlier = next(t for t in trials if t.number == earlier_numbers[0])
    value = earlier.value if earlier.state == TrialState.COMPLETE else None

    def action() -> None:
        storage = study._storage
        storage.set_trial_user_attr(trial_id, "role", DUPLICATE)
        state = TrialState.COMPLETE if value is not None else TrialState.PRUNED
        storage.set_trial_state_values(trial_id, state, [value] if value is not None
                                       else None)
    store.retry(action)
    held = {t.user_attrs.get("config_id") for t in trials}
    slots = [t.user_attrs.get("slot", 0) for t in trials
             if t.user_attrs.get("role") in (SAMPLED, DUPLICATE)]
    if len(held - {None}) < space_size and len(slots) < MAX_SLOTS_FACTOR * n_trials:
        attrs = {"role": SAMPLED, "slot": max(slots) + 1, "seed": 0}
        store.retry(lambda: study.enqueue_trial({}, user_attrs=attrs))
    return True


def waiting(study: optuna.Study) -> list[bulk.Waiting]:
    return bulk.waiting(study)


def slots(store: Store, study: optuna.Study, trial_ids: Sequence[int]) -> dict[int, int]:
    """The slot (the configuration's place in the study) of each of `trial_ids` that has one."""
    return store.retry(lambda: bulk.slots_of(study, trial_ids), locked=False)


def counts(study: optuna.Study) -> dict[TrialState, int]:
    return bulk.state_counts(study)


def claim(store: Store, study: optuna.Study, trial_ids: Sequence[int]) -> list[int]:
    """Take waiting trials; returns those this worker won (others may have been first).

    Each claimed trial gets its first heartbeat in the same transaction: a worker killed right
    after claiming leaves trials that go stale and are queued again, not ones left RUNNING for
    ever (Optuna never fails a running trial that has no heartbeat)."""
    return store.retry(lambda: bulk.claim(study, trial_ids))


def open_trial(store: Store, study: optuna.Study, trial_id: int, sampler: BaseSampler
               ) -> optuna.Trial:
    """The claimed open slot with every factor drawn by `sampler`."""
    def action() -> optuna.Trial:
        study.get_trials(deepcopy=False)  # Optuna's cache must hold the trial to set params
        study.sampler = sampler
        trial = optuna.Trial(study, trial_id)
        for name, distribution in distributions(study).items():
            suggest(trial, name, distribution)
        return trial
    return store.retry(action)


def suggest(trial: optuna.Trial, name: str, dist: BaseDistribution) -> Any:
    """Draw one factor with the public `Trial.suggest_*` call its distribution stands for."""
    if isinstance(dist, FloatDistribution):
        return trial.suggest_float(name, dist.low, dist.high, step=dist.step, log=dist.log)
    if isinstance(dist, IntDistribution):
        return trial.suggest_int(name, dist.low, dist.high, step=dist.step, log=dist.log)
    if isinstance(dist, CategoricalDistribution):
        return trial.suggest_categorical(name, dist.choices)
    raise TypeError(f"Unsupported distribution {dist!r} for {name!r}.")


def draw_ahead(store: Store, study: optuna.Study, trial_id: int, sampler: BaseSampler,
               baseline: dict[str, Any]) -> dict[str, Any]:
    """Fill a claimed open slot in one transaction with a sampler that draws every factor
    independently of the study's trainings (random draws): the same values, in the same
    order, as `open_trial` and `fill_sampled` give, without their call per factor."""
    factors = distributions(study)
    frozen = bulk.backend(study).get_trial(trial_id)
    drawn = {}
    for name, distribution in factors.items():
        value = (_single_value(distribution) if distribution.single()
                 else sampler.sample_independent(study, frozen, name, distribution))
        # what Trial.params reads back: the value through the distribution's stored form
        drawn[name] = distribution.to_external_repr(distribution.to_internal_repr(value))
    params = baseline | drawn
    attrs = {"params": params, "config_id": config_id(params), "sampled": True}
    store.retry(lambda: bulk.fill(study, trial_id, drawn, factors, attrs))
    return params


def _single_value(distribution: BaseDistribution) -> Any:
    if isinstance(distribution, CategoricalDistribution):
        return distribution.choices[0]
    return distribution.low  # type: ignore[attr-defined]


def fill_sampled(store: Store, trial: optuna.Trial, baseline: dict[str, Any]) -> dict[str, Any]:
    """Give a sampled slot its full configuration and id once the sampler has chosen."""
    params = baseline | dict(trial.params)
    attrs = {"params": params, "config_id": config_id(params), "sampled": True}
    for key, value in attrs.items():
        store.retry(functools.partial(trial.set_user_attr, key, value))
    return params


def outcome(trial_id: int, result: dict[str, Any]) -> bulk.Outcome:
    """A finished training's record: its result, and a value Optuna's samplers can use."""
    status = result["status"]
    value = result.get("val_metric")
    if status == PRUNED:
        return bulk.Outcome(trial_id, TrialState.PRUNED, None, result)
    if status in (COMPLETE, DIVERGED) and isinstance(value, float | int) and math.isfinite(value):
        return bulk.Outcome(trial_id, TrialState.COMPLETE, float(value), result)
    return bulk.Outcome(trial_id, TrialState.FAIL, None, result)


def record(store: Store, study: optuna.Study, results: Sequence[tuple[int, dict[str, Any]]]
           ) -> None:
    """Store finished trainings, given as (trial id, result), in one transaction."""
    dropped = store.retry(lambda: bulk.record(study, [outcome(*item) for item in results]))
    for trial_id in dropped:
        # Its heartbeat lapsed (the database was out of reach longer than the grace period):
        # another worker failed it and queued it again; that attempt records the result.
        log.warning("trial %d was given up as stale and queued again; its result is dropped",
                    trial_id)


def record_failure(store: Store, study: optuna.Study, trial_ids: Sequence[int], message: str,
                   env: dict[str, Any]) -> None:
    record(store, study, [(trial_id, {"status": FAILED, "error": message, "env": env})
                          for trial_id in trial_ids])


def release(store: Store, study: optuna.Study, trial_ids: Sequence[int]) -> None:
    """Hand back trainings this worker will not finish (interrupted): fail and requeue them."""
    callback = study._storage.get_heartbeat_stale_trial_callback()  # type: ignore[attr-defined]
    for trial_id in trial_ids:
        def action(tid: int = trial_id) -> bool:
            storage = study._storage
            if storage.get_trial(tid).state != TrialState.RUNNING:
                return False
            storage.set_trial_user_attr(tid, "result", {"status": FAILED,
                                                        "error": "interrupted; queued again"})
            return storage.set_trial_state_values(tid, TrialState.FAIL)
        if store.retry(action) and callback is not None:
            frozen = study._storage.get_trial(trial_id)
            store.retry(functools.partial(callback, study, frozen))


def fail_stale(store: Store, study: optuna.Study) -> None:
    """Fail and requeue trainings whose worker stopped sending heartbeats."""
    store.retry(lambda: fail_stale_trials(study))


class Heartbeat:
    """Records a heartbeat for the trials a worker holds, every `store.heartbeat_interval` s."""

    def __init__(self, store: Store, study: optuna.Study):
        self.store, self.study = store, study
        self.trial_ids: list[int] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def hold(self, trial_ids: Sequence[int]) -> None:
        self.trial_ids = list(trial_ids)
        self.beat()

    def let_go(self, trial_ids: Sequence[int]) -> None:
        """Stop beating for `trial_ids` (recorded)."""
        gone = set(trial_ids)
        self.trial_ids = [trial_id for trial_id in self.trial_ids if trial_id not in gone]

    def beat(self) -> None:
        trial_ids = list(self.trial_ids)
        self.store.retry(lambda: bulk.beat(self.study, trial_ids))

    def _run(self) -> None:
        while not self._stop.wait(self.store.heartbeat_interval):
            try:
                self.beat()
            except Exception:  # a lost heartbeat only delays nothing: the next one retries
                continue

    def stop(self) -> None:
        self._stop.set()

