"""What the worker processes of one `hpstudy run` share, and how a busy one hands trainings
to an idle one.

A worker of a pruned study claims its share of the configurations at the start and trains
them side by side; which of them survive the rungs is known only later, so near the end one
worker may still train several survivors while the other has nothing left. The idle one asks
(`asks`); the busy one, between two epochs, takes the request and sends about half of its
running configurations, paused (`hpstudy.train.Trainer.pause`), through `handed`; the idle one
takes them up after the epoch they stopped at. Both train with one thread, so a training's
numbers are the same whichever worker runs its epochs.

The trials stay running throughout; the receiver beats for them from when it takes them up.
A batch never taken up (its receiver gone, the run stopped) goes stale and is trained again
from the start, like the trainings of a killed worker.
"""

from __future__ import annotations

import os
import queue
from collections.abc import Hashable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from hpstudy.config import Config

K = TypeVar("K", bound=Hashable)
RECEIVE_WAIT_S = 0.05  # a batch just sent can take this long to come through the pipe


@dataclass(frozen=True)
class Handed:
    """One training sent to another worker: its trial, configuration and paused state."""

    trial_id: int
    cfg: Config
    config_id: str
    state: bytes
    epochs_run: int  # the epoch it was paused after


@dataclass
class Siblings:
    """The channels between the workers of one run (made by the runner, given to each
    worker process): `wake` is set when one records results or sends trainings."""

    wake: Any  # a multiprocessing Event
    asks: Any  # a multiprocessing Queue: one item per request for work
    handed: Any  # a multiprocessing Queue: lists of Handed, each paused after one epoch

    @classmethod
    def create(cls, context: Any) -> Siblings:
        """`context`: the multiprocessing context the worker processes start with."""
        return cls(context.Event(), context.Queue(), context.Queue())

    def in_worker_process(self) -> None:
        """Called once in each worker process: a batch nobody takes up (its receiver gone)
        must not keep the process from exiting (it is trained again from the start)."""
        for channel in (self.asks, self.handed):
            channel.cancel_join_thread()

    def ask(self) -> None:
        """Tell the busy workers that this one has nothing to do."""
        self.asks.put(os.getpid())

    def take_request(self) -> bool:
        """Whether an idle worker has asked (the request is then answered by this caller)."""
        try:
            self.asks.get_nowait()
        except queue.Empty:
            return False
        return True

    def send(self, batch: list[Handed]) -> None:
        self.handed.put(batch)
        self.wake.set()

    def receive(self, expecting: bool) -> list[Handed]:
        """A batch sent by a busy worker, if any (waiting a moment when `expecting` one)."""
        try:
            batch: list[Handed] = (self.handed.get(timeout=RECEIVE_WAIT_S) if expecting
                                   else self.handed.get_nowait())
        except queue.Empty:
            return []
        return batch


def half_of(costs: Mapping[K, float]) -> set[K]:
    """Keys holding about half of the total cost, to send away: the largest first, each to
    the side that has less so far (the sender keeps the first)."""
    kept = sent = 0.0
    leaving = set()
    for key, cost in sorted(costs.items(), key=lambda item: (-item[1], str(item[0]))):
        if kept <= sent:
            kept += cost
        else:
            sent += cost
            leaving.add(key)
    return leaving
