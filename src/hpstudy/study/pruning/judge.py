"""A worker's pruning judge: reports a group's values to the study and applies the rule.

At an epoch the rule judges, the judge first stores the epoch's value of every training it
holds (Optuna intermediate values), then reads every value stored at that epoch, averages
each configuration over its seeds (only configurations whose seeds all reached the epoch
count) and asks the rule about each of its own configurations. All seeds of a configuration
stop together. The trainings of one vectorized group see each other's values.

A synchronous judge (successive halving or Hyperband with `synchronous = true`, and a worker
whose configurations train side by side) first waits for the trainings of the same cohort that
other workers are running and have not yet brought to the epoch, so that every rung is judged
whole, as one worker judges it (trainings no worker has claimed yet are not waited for).
"""

from __future__ import annotations

import statistics
import time
from collections import defaultdict
from collections.abc import Collection, Sequence
from dataclasses import dataclass

import optuna

from hpstudy.config import Config
from hpstudy.study import bulk, queue
from hpstudy.study.pruning.rules import Entry, Pruner
from hpstudy.study.storage import Store

# config_id, seed, trial number, value, slot (bulk.values_at)
Value = tuple[str, int, int, float, int | None]
POLL_S = 0.02  # how often a synchronous judge looks whether its rung is whole


@dataclass(frozen=True)
class Held:
    """A training the worker holds: its trial, configuration id, length and slot."""

    trial_id: int
    config_id: str
    epochs: int
    slot: int | None = None


def seed_means(values: Sequence[Value], repeats: int) -> dict[str, Entry]:
    """Per configuration, the mean of its seeds' values (with its slot), for configurations
    whose `repeats` seeds all have one (the latest attempt of each seed counts)."""
    latest: dict[tuple[str, int], tuple[int, float]] = {}
    slots: dict[str, int | None] = {}
    for config_id, seed, number, value, slot in values:
        if (config_id, seed) not in latest or number > latest[(config_id, seed)][0]:
            latest[(config_id, seed)] = (number, value)
        slots[config_id] = slot if slots.get(config_id) is None else slots[config_id]
    by_config: dict[str, list[float]] = defaultdict(list)
    for (config_id, _), (_, value) in sorted(latest.items()):
        by_config[config_id].append(value)
    return {cid: Entry(cid, statistics.fmean(vals), slots[cid])
            for cid, vals in by_config.items() if len(vals) >= repeats}


def decide(pruner: Pruner, means: dict[str, Entry], judged: Collection[str],
           epochs: dict[str, int], maximize: bool) -> set[str]:
    """The configurations among `judged` that the rule stops, given every configuration's
    seed mean at the epoch."""
    stop = set()
    for config_id in sorted(judged):
        if config_id not in means:
            continue
        others = [entry for cid, entry in sorted(means.items()) if cid != config_id]
        if pruner.prunes(means[config_id], others, maximize, epochs[config_id]):
            stop.add(config_id)
    return stop


class Judge:
    """The `train.Judge` of one claimed group."""

    def __init__(self, store: Store, study: optuna.Study, pruner: Pruner, repeats: int,
                 maximize: bool, held: dict[Config, list[Held]], synchronous: bool = False):
        self.store, self.study, self.pruner = store, study, pruner
        self.repeats, self.maximize = repeats, maximize
        self.held = held  # by config with epochs=0: the trainings its run measures
        self.synchronous = synchronous and pruner.synchronous
        self.mine = {h.trial_id for trainings in held.values() for h in trainings}

    def __call__(self, epoch: int, values: Sequence[tuple[Config, float]]) -> set[Config]:
        runs = {cfg.replace(epochs=0): (cfg, value) for cfg, value in values}
        lead = {key: max(self.held[key], key=lambda h: h.epochs) for key in runs}
        judged = {lead[key].config_id for key in runs
                  if self.pruner.judges_at(lead[key].config_id, epoch, lead[key].epochs,
                                           lead[key].slot)}
        if not judged:
            return set()
        reported = [(h.trial_id, value) for key, (_, value) in runs.items()
                    for h in self.held[key] if h.epochs >= epoch]
        self.store.retry(lambda: bulk.report(self.study, epoch, reported))
        if self.synchronous:
            self.wait_for_cohorts(epoch, [lead[key] for key in runs
                                          if lead[key].config_id in judged])
        stored = self.store.retry(lambda: bulk.values_at(self.study, epoch), locked=False)
        epochs = {h.config_id: h.epochs for h in lead.values()}
        stop = decide(self.pruner, seed_means(stored, self.repeats), judged, epochs,
                      self.maximize)
        return {cfg for key, (cfg, _) in runs.items() if lead[key].config_id in stop}

    def let_go(self, trial_ids: Sequence[int]) -> None:
        """`trial_ids` went on in another worker (handed over): awaited like its trainings."""
        self.mine.difference_update(trial_ids)

    def awaited(self, epoch: int, cohorts: set[int], epochs: int) -> int:
        """How many trainings that other workers run, of `cohorts` and judged at `epoch`, have
        no value stored at it yet (an open slot being filled counts); `epochs`: the length of
        one whose configuration does not say."""
        count = 0
        for trial_id, config_id, slot, length_of in bulk.on_their_way(self.study, epoch):
            if trial_id in self.mine:
                continue
            if config_id is None:
                count += 1
                continue
            length = length_of if isinstance(length_of, int) else epochs
            if self.pruner.judges_at(config_id, epoch, length, slot) \
                    and self.pruner.cohort(config_id, length, slot) in cohorts:
                count += 1
        return count

    def wait_for_cohorts(self, epoch: int, judged: Sequence[Held]) -> None:
        """Wait until no other worker's training of the judged cohorts is still on its way to
        `epoch`. A worker that died is noticed as the heartbeats say (its trainings are failed
        and queued again, and no longer awaited)."""
        cohorts = {self.pruner.cohort(h.config_id, h.epochs, h.slot) for h in judged}
        last_stale_check = time.monotonic()
        while self.store.retry(lambda: self.awaited(epoch, cohorts, judged[0].epochs),
                               locked=False):
            time.sleep(POLL_S)
            if time.monotonic() - last_stale_check > self.store.heartbeat_interval:
                queue.fail_stale(self.store, self.study)
                last_stale_check = time.monotonic()
