"""A worker: takes trainings from a study's queue, trains them and records the results.

Any number of workers, on any machines, can work on one study; each exits when nothing is left.
Trainings that can share work are taken together: MLP trainings with the same architecture
and batch size are vectorized (`hpstudy.batched`), and configurations that differ only in
`epochs` come from one run of the longest. The workers of one `hpstudy run` also hand running
trainings of a pruned study to each other when one of them runs out of work
(`hpstudy.study.siblings`).
"""

from __future__ import annotations

import logging
import math
import multiprocessing.synchronize
import os
import platform
import socket
import threading
import time
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import optuna
import torch

from hpstudy import __version__, batched, schedules
from hpstudy.config import Config
from hpstudy.errors import HPStudyError
from hpstudy.study import queue
from hpstudy.study.bulk import Waiting
from hpstudy.study.plans import Planned, config_id
from hpstudy.study.pruning import build_pruner
from hpstudy.study.pruning.judge import Held, Judge
from hpstudy.study.records import COMPLETE
from hpstudy.study.siblings import Handed, Siblings, half_of
from hpstudy.study.space import space_size
from hpstudy.study.spec import StudySpec
from hpstudy.study.storage import Store
from hpstudy.study.strategies import get_strategy
from hpstudy.tasks import Splits, Task, get_task, load_task_module
from hpstudy.train import (
    DEFAULT_CHANCE_PATIENCE,
    Finished,
    Paused,
    TrialResult,
    train_at_epochs,
    train_together,
)

log = logging.getLogger(__name__)
MAX_GROUP = 64
IDLE_POLL_S = 0.2  # an idle worker looks for work again after this, then less and less often
MAX_IDLE_POLL_S = 2.0  # (many idle workers on one database stay quiet)


@dataclass
class WorkerOptions:
    """How a worker runs (picklable: it is handed to worker processes)."""

    url: str
    study_name: str
    device: str = "cpu"
    threads: int = 1
    data_dir: Path | None = None
    chance_patience: int = DEFAULT_CHANCE_PATIENCE
    deadline: float | None = None  # time.time() after which no new training starts
    task_modules: list[str] = field(default_factory=list)
    exit_with_parent: bool = False  # a worker process started by `hpstudy run`
    workers: int | None = None  # the processes `hpstudy run` started with this one; None: alone


# (position in the claimed group, result, size of its stack) of trainings that have ended
Ended = Callable[[Sequence[tuple[int, TrialResult, int]]], None]


@dataclass
class Claimed:
    trial_id: int
    cfg: Config
    config_id: str = ""
    paused: bytes | None = None  # handed over by another worker, to go on from
    resumed_at: int = 0  # the epoch it was handed over after


class GroupHandOver:
    """The `train.HandOver` of one claimed group: when an idle sibling has asked, about half
    of the group's running configurations (by seconds per epoch, all seeds of one together)
    go to it, until `deadline` (after it, idle workers stop); `sent` is told their trial ids."""

    def __init__(self, siblings: Siblings, group: Sequence[Claimed],
                 sent: Callable[[list[int]], None], deadline: float | None = None):
        self.siblings, self.sent, self.deadline = siblings, sent, deadline
        self.items = {item.cfg: item for item in group}

    def choose(self, running: Sequence[tuple[Config, float]]) -> set[Config]:
        costs: dict[str, float] = {}
        for cfg, seconds in running:
            cid = self.items[cfg].config_id
            costs[cid] = costs.get(cid, 0.0) + seconds
        if len(costs) < 2 or (self.deadline is not None and time.time() >= self.deadline) \
                or not self.siblings.take_request():
            return set()
        leaving = half_of(costs)
        return {cfg for cfg, _ in running if self.items[cfg].config_id in leaving}

    def send(self, paused: Sequence[Paused]) -> None:
        batch = [Handed(self.items[p.cfg].trial_id, p.cfg, self.items[p.cfg].config_id,
                        p.state, p.epochs_run) for p in paused]
        self.siblings.send(batch)
        self.sent([h.trial_id for h in batch])
        log.debug("handed %d trainings to an idle worker", len(batch))


def environment(options: WorkerOptions) -> dict[str, Any]:
    return {"hpstudy": __version__, "torch": torch.__version__, "device": options.device,
            "threads": torch.get_num_threads(), "host": socket.gethostname(),
            "python": platform.python_version()}


def cost(trial: Waiting) -> float:
    """A rough size of a queued training, to start the longest first."""
    params = trial.user_attrs.get("params") or {}
    size = float(params.get("width", 1)) * float(params.get("layers", 1))
    return float(params.get("epochs", 0)) * size / float(params.get("batch_size", 1)) ** 0.5


def share_key(task: Task, cfg: Config, prunes: bool = False) -> Hashable:
    """Trainings with equal keys are run together; with pruning, the seeds of a configuration
    always are (they are judged on their mean and stop together)."""
    key = batched.group_key(task, cfg)
    if key is not None:
        return ("vectorized", key)
    if prunes:
        return ("seeds", tuple(sorted(task.params_of(cfg.replace(seed=0)).items())))
    if schedules.depends_on_length(cfg):  # each length is a training of its own
        return ("alone", tuple(sorted(task.params_of(cfg).items())))
    return ("epochs", tuple(sorted(task.params_of(cfg.replace(epochs=1)).items())))


class Worker:
    """The loop of one worker process."""

    def __init__(self, options: WorkerOptions, siblings: Siblings | None = None):
        self.options = options
        self.siblings = siblings  # the other workers of this run, if any
        self.asked = False  # whether this worker has asked its siblings for work
        for module in options.task_modules:
            load_task_module(module)
        torch.set_num_threads(options.threads)
        # a worker started by `hpstudy run` opens a database its parent has just checked
        self.store = Store(options.url, schema_checked=options.exit_with_parent)
        self.study = self.store.load(options.study_name)
        attrs = self.study.user_attrs
        self.task = get_task(attrs["task"])
        self.spec = StudySpec.from_dict(attrs["spec"])
        self.strategy = get_strategy(self.spec.strategy)
        self.baseline: dict[str, Any] = attrs["defaults"]
        self.space_size = space_size(queue.distributions(self.study))
        self.pruner = build_pruner(self.spec.pruning)
        self.env = environment(options)
        self.splits: dict[Hashable, Splits] = {}

    def config(self, params: dict[str, Any], seed: int) -> Config:
        return self.task.make_config(params | {"seed": seed})

    def claimed(self, trial_id: int, attrs: dict[str, Any]) -> Claimed:
        params = attrs["params"]
        return Claimed(trial_id, self.config(params, attrs["seed"]), config_id(params))

    def take(self) -> list[Claimed]:
        """Claim the longest waiting training and every waiting one that can share its run."""
        pending = sorted(queue.waiting(self.study), key=lambda t: (-cost(t), t.number))
        for first in pending:
            if not queue.claim(self.store, self.study, [first.trial_id]):
                continue
            if "params" not in first.user_attrs:  # an open slot: the sampler picks now
                return self.open_slots(first, pending)
            lead = self.claimed(first.trial_id, first.user_attrs)
            key = share_key(self.task, lead.cfg, self.pruner.active)
            others: dict[int, Claimed] = {}
            for other in pending:
                if len(others) + 1 >= MAX_GROUP:
                    break
                if other is not first and "params" in other.user_attrs:
                    item = self.claimed(other.trial_id, other.user_attrs)
                    if share_key(self.task, item.cfg, self.pruner.active) == key:
                        others[other.trial_id] = item
            won = queue.claim(self.store, self.study, list(others))
            return [lead] + [others[i] for i in won]
        return []

    def slots_per_take(self, open_now: int) -> int:
        """How many open slots one take fills: with pruning and a sampler that can fill slots
        ahead (random draws), this worker's share of the study's slots, so that the
        configurations of a rung are judged side by side, as in synchronous successive
        halving; else one.
        The workers of one `hpstudy run` split the configurations not yet trained (open or
        in training) evenly; a worker started alone (others may join) takes half of those
        still open."""
        if not self.pruner.active or not self.strategy.fills_ahead:
            return 1
        if self.options.workers is None:
            share = math.ceil(open_now / 2)
        else:
            states = self.store.retry(lambda: queue.counts(self.study), locked=False)
            training = (states.get(optuna.trial.TrialState.RUNNING, 0) - 1) / self.spec.repeats
            share = math.ceil((open_now + max(0.0, training)) / self.options.workers)
        return max(1, min(share, open_now, MAX_GROUP // self.spec.repeats))

    def open_slots(self, first: Waiting, pending: Sequence[Waiting]) -> list[Claimed]:
        """Fill the claimed open slot `first` and, when several are filled at once
        (`slots_per_take`), more waiting ones, each by its own sampler."""
        others = [t for t in pending if t is not first and "params" not in t.user_attrs]
        wanted = self.slots_per_take(len(others) + 1) - 1
        taken: dict[int, Waiting] = {}
        while len(taken) < wanted and others:
            ask = {t.trial_id: t for t in others[:wanted - len(taken)]}
            taken |= {i: ask[i] for i in queue.claim(self.store, self.study, list(ask))}
            if len(taken) < wanted:  # another worker took some first: look again
                others = [t for t in queue.waiting(self.study) if "params" not in t.user_attrs]
        group = self.open_slot(first)
        for slot in sorted(taken.values(), key=lambda t: t.number):
            group += self.open_slot(slot)
        return group

    def open_slot(self, slot: Waiting) -> list[Claimed]:
        """Let the strategy's sampler pick the slot's configuration; a configuration the study
        already holds is not trained again (the slot is closed and a new one opened). With
        pruning, the configuration's other seeds are claimed with it."""
        trial_id = slot.trial_id
        sampler = self.strategy.sampler(self.spec.seed, slot.number)
        if sampler is None:
            raise HPStudyError(f"Study {self.spec.name!r} has an open slot, but its strategy "
                               f"{self.spec.strategy!r} samples nothing.")
        if self.strategy.fills_ahead:  # independent draws: one transaction
            params = queue.draw_ahead(self.store, self.study, trial_id, sampler, self.baseline)
        else:
            trial = queue.open_trial(self.store, self.study, trial_id, sampler)
            params = queue.fill_sampled(self.store, trial, self.baseline)
        if queue.close_if_duplicate(self.store, self.study, trial_id, slot.number,
                                    config_id(params), self.space_size,
                                    self.spec.n_trials or 1):
            return []
        first = Claimed(trial_id, self.config(params, 0), config_id(params))
        if self.spec.repeats == 1:
            return [first]
        others = [Planned(params, seed, slot.user_attrs.get("slot"))
                  for seed in range(1, self.spec.repeats)]
        if not self.pruner.active:
            queue.enqueue(self.store, self.study, others)
            return [first]
        # taken in the transaction that adds them: no other worker can start a seed alone
        added = queue.enqueue_claimed(self.store, self.study, others)
        return [first] + [Claimed(trial_id, self.config(params, item.seed), config_id(params))
                         for trial_id, item in added]

    def data(self, cfg: Config) -> Splits:
        key = self.task.data_key(cfg)
        if key not in self.splits:
            self.splits[key] = self.task.load_splits(cfg, self.options.data_dir)
        return self.splits[key]

    def parts(self, group: Sequence[Claimed]) -> dict[Hashable, tuple[list[list[int]], list[int]]]:
        """The group's positions by data split, then by how they train: one list per
        vectorized stack and one of the rest (a group of open slots filled at once mixes
        them)."""
        parts: dict[Hashable, tuple[dict[Hashable, list[int]], list[int]]] = {}
        for index, item in enumerate(group):
            stacks, solo = parts.setdefault(self.task.data_key(item.cfg), ({}, []))
            key = batched.group_key(self.task, item.cfg)
            if key is None:
                solo.append(index)
            else:
                stacks.setdefault(key, []).append(index)
        return {data: (list(stacks.values()), solo) for data, (stacks, solo) in parts.items()}

    def execute(self, group: Sequence[Claimed], ended: Ended | None = None,
                sent: Callable[[list[int]], None] | None = None
                ) -> list[tuple[TrialResult, int] | None]:
        """Train a claimed group (vectorized stacks side by side, solo trainings side by side
        or with shared epochs); per training, its result and the size of its stack (None:
        handed to a sibling, and `sent` told its trial id). `ended` is told (position in the
        group, result, stack size) of the trainings that end before the group does, at the
        end of their epoch."""
        parts = self.parts(group)
        # one part (stacks or solo trainings) trains everything side by side: its judge can
        # wait for a rung to be whole; a later part would keep an earlier one waiting forever
        side_by_side = sum(bool(stacks) + bool(solo) for stacks, solo in parts.values()) == 1
        judge = self.judge(group, synchronous=side_by_side and self.strategy.fills_ahead) \
            if self.pruner.active else None
        device, patience = self.options.device, self.options.chance_patience
        out: dict[int, tuple[TrialResult, int]] = {}

        def tell(parts: Sequence[tuple[Sequence[int], int]]) -> Finished | None:
            """`ended` as a trainer's callback, for the given (positions, stack size)."""
            if ended is None:
                return None
            where: dict[Config, list[tuple[int, int]]] = {}
            for part, size in parts:
                for index in part:
                    where.setdefault(group[index].cfg, []).append((index, size))
            return lambda items: ended([(index, result, size) for cfg, result in items
                                        for index, size in where[cfg]])

        def handed(trial_ids: list[int]) -> None:
            """Trainings gone on in a sibling: a synchronous judge waits for them too."""
            if judge is not None:
                judge.let_go(trial_ids)
            if sent is not None:
                sent(trial_ids)

        for stacks, solo in parts.values():
            splits = self.data(group[(stacks[0] if stacks else solo)[0]].cfg)
            if stacks:
                trained = batched.train_groups(
                    self.task, [[group[i].cfg for i in part] for part in stacks], splits,
                    device=device, chance_patience=patience, judge=judge,
                    finished=tell([(part, len(part)) for part in stacks]))
                for part, results in zip(stacks, trained, strict=True):
                    out |= {i: (result, len(part)) for i, result in zip(part, results,
                                                                          strict=True)}
            if solo:
                items = [group[i] for i in solo]
                hand_over = None if self.siblings is None or sent is None \
                    else GroupHandOver(self.siblings, items, handed, self.options.deadline)
                solo_results = self.train_solo(items, splits, judge, tell([(solo, 1)]),
                                               hand_over)
                out |= {i: (result, 1) for i, result in zip(solo, solo_results, strict=True)
                        if result is not None}
        return [out.get(index) for index in range(len(group))]

    def train_solo(self, items: list[Claimed], splits: Splits, judge: Judge | None,
                   finished: Finished | None, hand_over: GroupHandOver | None = None
                   ) -> list[TrialResult | None]:
        device, patience = self.options.device, self.options.chance_patience
        cfgs = [item.cfg for item in items]
        paused = [item.paused for item in items if item.paused is not None]
        if judge is not None:
            return train_together(self.task, cfgs, splits, judge, device=device,
                                  chance_patience=patience, finished=finished,
                                  resumed=paused or None, hand_over=hand_over)
        if paused:
            raise HPStudyError("A training handed over by another worker can only go on in a "
                               "pruned study.")
        longest = max(cfgs, key=lambda c: c.epochs)
        by_epoch = train_at_epochs(self.task, longest, splits, [c.epochs for c in cfgs],
                                   device=device, chance_patience=patience)
        return [by_epoch[c.epochs] for c in cfgs]

    def judge(self, group: Sequence[Claimed], synchronous: bool = False) -> Judge:
        slots = queue.slots(self.store, self.study, [item.trial_id for item in group])
        held: dict[Config, list[Held]] = {}
        for item in group:
            held.setdefault(item.cfg.replace(epochs=0), []).append(
                Held(item.trial_id, item.config_id, item.cfg.epochs, slots.get(item.trial_id)))
        return Judge(self.store, self.study, self.pruner, self.spec.repeats,
                     self.study.direction == optuna.study.StudyDirection.MAXIMIZE, held,
                     synchronous)

    def result_attr(self, result: TrialResult, group_size: int, resumed_at: int = 0
                    ) -> dict[str, Any]:
        data = result.to_dict()
        data["status"] = COMPLETE if result.status == "ok" else result.status
        data["error"] = data.pop("reason")
        data.pop("params")
        if resumed_at:  # trained up to this epoch by another worker of the run
            data["resumed_at"] = resumed_at
        return data | {"env": self.env, "group_size": group_size}

    def received(self) -> list[Claimed]:
        """Trainings a sibling handed over, to go on with (none: nothing was sent)."""
        if self.siblings is None:
            return []
        batch = self.siblings.receive(expecting=self.asked)
        return [Claimed(h.trial_id, h.cfg, h.config_id, h.state, h.epochs_run) for h in batch]

    def work_once(self, heartbeat: queue.Heartbeat, claim: bool = True) -> int:
        """Take up what a sibling handed over, or claim a group; train and record it; returns
        how many trainings it finished (or handed on); `claim=False` only takes up. A training
        that ends before the others (pruned, diverged, shorter) is recorded at the end of its
        epoch: `status` counts it at once, and a crash later does not lose it."""
        group = self.received()
        if not group and claim:
            group = self.take()
            if group and self.asked and self.siblings is not None:
                self.siblings.take_request()  # busy again: withdraw a request for work
        if not group:
            return 0
        self.asked = False
        recorded: set[int] = set()  # positions recorded
        handed: set[int] = set()  # trial ids sent to a sibling
        heartbeat.hold([item.trial_id for item in group])

        def left() -> list[int]:
            return [item.trial_id for i, item in enumerate(group)
                    if i not in recorded and item.trial_id not in handed]

        def sent(trial_ids: list[int]) -> None:
            handed.update(trial_ids)
            heartbeat.let_go(trial_ids)

        def record(ended: Sequence[tuple[int, TrialResult, int]]) -> None:
            fresh = [(i, result, shared) for i, result, shared in ended if i not in recorded]
            if not fresh:
                return
            queue.record(self.store, self.study, [
                (group[i].trial_id, self.result_attr(result, shared, group[i].resumed_at))
                for i, result, shared in fresh])
            recorded.update(i for i, _, _ in fresh)
            heartbeat.let_go([group[i].trial_id for i, _, _ in fresh])

        try:
            results = self.execute(group, record, sent)
        except Exception as exc:  # a training that raises is a failed result, not a crash
            log.exception("training failed")
            queue.record_failure(self.store, self.study, left(),
                                 f"{type(exc).__name__}: {exc}", self.env)
            heartbeat.hold([])
            return len(group)
        except BaseException:
            queue.release(self.store, self.study, left())
            raise
        record([(i, *outcome) for i, outcome in enumerate(results) if outcome is not None])
        heartbeat.hold([])
        return len(group)

    def run(self) -> int:
        """Work until the queue is empty (or the deadline passes); returns trainings done."""
        heartbeat = queue.Heartbeat(self.store, self.study)
        if self.options.exit_with_parent:
            watch_parent()
        done = 0
        idle_s = IDLE_POLL_S
        wake = None if self.siblings is None else self.siblings.wake
        try:
            while self.options.deadline is None or time.time() < self.options.deadline:
                if wake is not None:
                    wake.clear()  # before looking: a later record wakes this worker
                queue.fail_stale(self.store, self.study)
                finished = self.work_once(heartbeat)
                done += finished
                if finished:
                    if wake is not None:
                        wake.set()
                    idle_s = IDLE_POLL_S
                    continue
                states = self.store.retry(lambda: queue.counts(self.study), locked=False)
                if not states.get(optuna.trial.TrialState.WAITING) and not states.get(
                        optuna.trial.TrialState.RUNNING):
                    break
                # others still train: one may fail and be queued again, or hand some over
                if self.siblings is not None and self.pruner.active and not self.asked:
                    self.siblings.ask()
                    self.asked = True
                idle_wait(wake, idle_s)
                idle_s = min(2 * idle_s, MAX_IDLE_POLL_S)
            # past the deadline no training starts, but one handed over has started
            while finished := self.work_once(heartbeat, claim=False):
                done += finished
        finally:
            heartbeat.stop()
            self.store.close()
        return done


def idle_wait(wake: multiprocessing.synchronize.Event | None, seconds: float) -> None:
    """Wait `seconds`, or until `wake` is set (a sibling process recorded results)."""
    if wake is None:
        time.sleep(seconds)
    else:
        wake.wait(seconds)


def watch_parent() -> None:
    """End this process when the process that started it is gone (killed)."""
    parent = os.getppid()

    def watch() -> None:
        while True:
            time.sleep(1.0)
            if os.getppid() != parent:
                os._exit(1)
    threading.Thread(target=watch, daemon=True).start()


def run_worker(options: WorkerOptions, siblings: Siblings | None = None) -> int:
    """Entry point of a worker process; `siblings` connects the workers of one `hpstudy run`
    (an idle one then notices at once that the last trainings are done, and takes over
    trainings from a busy one)."""
    return Worker(options, siblings).run()
