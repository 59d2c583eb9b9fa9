"""The pruning rules, one class each behind one interface.

A rule sees, at one epoch, the value of the configuration being judged and the values that
other configurations have stored at that same epoch (`Entry`), and says whether to stop it.
It never looks at values from other epochs or at configurations that have not reached the
epoch yet, so a decision depends only on stored values (workers on one machine or on many
decide alike) and the order in which trainings started never changes the rule.
"""

from __future__ import annotations

import math
import statistics
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from hpstudy.errors import ConfigError


@dataclass(frozen=True)
class Entry:
    """One configuration's value at an epoch: the mean over its seeds."""

    config_id: str
    value: float
    slot: int | None = None  # its place in the study (see `deal_point`), if stored


class Pruner:
    """No pruning; subclasses say at which epochs they judge and how."""

    name: ClassVar[str] = "none"
    help: ClassVar[str] = "every configuration trains all its epochs"
    # parameter -> (default, minimum, what it means); a bool default: true or false
    parameters: ClassVar[dict[str, tuple[int, int, str]]] = {}
    # whether a rung is judged once every configuration of its cohort has reached it, where
    # a worker trains its configurations side by side (`pruning.judge`)
    synchronous: bool = False

    def __init__(self, **params: int):
        for key, (default, _, _) in self.parameters.items():
            setattr(self, key, params.get(key, default))

    @classmethod
    def check(cls, params: dict[str, Any], source: str) -> dict[str, int]:
        """The rule's parameters, checked, defaults filled in; ConfigError with one line."""
        for key in params:
            if key not in cls.parameters:
                known = ", ".join(cls.parameters) or "none"
                raise ConfigError(f"In {source}: unknown key 'pruning.{key}' for pruner "
                                  f"{cls.name!r}. Known: {known}.")
        checked = {}
        for key, (default, minimum, _) in cls.parameters.items():
            value = params.get(key, default)
            if isinstance(default, bool):
                if not isinstance(value, bool):
                    raise ConfigError(f"In {source}: 'pruning.{key}' must be true or false. "
                                      f"Got {value!r}.")
            elif isinstance(value, bool) or not isinstance(value, int) or value < minimum:
                raise ConfigError(f"In {source}: 'pruning.{key}' must be an int >= {minimum}. "
                                  f"Got {value!r}.")
            checked[key] = value
        return checked

    @property
    def active(self) -> bool:
        return self.name != "none"

    def judges_at(self, config_id: str, epoch: int, epochs: int, slot: int | None = None
                  ) -> bool:
        """Whether a configuration of `epochs` epochs (at `slot` in the study) is judged after
        `epoch`."""
        return False

    def prunes(self, me: Entry, others: Sequence[Entry], maximize: bool, epochs: int) -> bool:
        """Whether `me` stops, given the other configurations' values at the same epoch."""
        return False

    def cohort(self, config_id: str, epochs: int, slot: int | None = None) -> int:
        """The configurations a configuration is compared with: those of the same cohort."""
        return 0


class NoPruning(Pruner):
    pass


def worse(value: float, than: float, maximize: bool) -> bool:
    return value < than if maximize else value > than


def rank_key(entry: Entry, maximize: bool) -> tuple[float, str]:
    """Best first; a non-finite value last; ties by id (deterministic)."""
    value = entry.value if math.isfinite(entry.value) else (-math.inf if maximize else math.inf)
    return (-value if maximize else value, entry.config_id)


class Median(Pruner):
    """Optuna's MedianPruner, on seed means: stop when worse than the median of the others."""

    name = "median"
    help = "stop a configuration worse than the median of the others at the same epoch"
    parameters: ClassVar[dict[str, tuple[int, int, str]]] = {
        "min_epochs": (5, 1, "epochs before any pruning"),
        "warmup_trials": (5, 0, "other configurations needed at an epoch before pruning"),
        "interval": (1, 1, "judge every this many epochs"),
    }
    min_epochs: int
    warmup_trials: int
    interval: int

    def judges_at(self, config_id: str, epoch: int, epochs: int, slot: int | None = None
                  ) -> bool:
        return epoch < epochs and epoch >= self.min_epochs and \
            (epoch - self.min_epochs) % self.interval == 0

    def prunes(self, me: Entry, others: Sequence[Entry], maximize: bool, epochs: int) -> bool:
        values = [e.value for e in others if math.isfinite(e.value)]
        if len(values) < max(1, self.warmup_trials):
            return False
        return not math.isfinite(me.value) or worse(me.value, statistics.median(values),
                                                    maximize)


GOLDEN = (math.sqrt(5) - 1) / 2


def deal_point(config_id: str, slot: int | None, total: int) -> float:
    """Where a configuration falls in [0, total), to deal it into a bracket of weights that
    sum to `total`. A configuration with a slot (its place in the study: a sampled study's slot
    number, a planned study's position in the plan) falls at the golden-ratio sequence's
    `slot`-th point, which spreads any run of consecutive slots evenly, so that every bracket
    gets its share of the configurations within one or two, as Li et al.'s brackets have
    fixed sizes; one without (stored before slots were) by a hash of its id."""
    if slot is None:
        return zlib.crc32(config_id.encode()) % total
    return ((slot + 1) * GOLDEN) % 1.0 * total


def rungs(min_epochs: int, factor: int, epochs: int) -> list[int]:
    """The epochs min_epochs * factor**i below `epochs`."""
    out, rung = [], min_epochs
    while rung < epochs:
        out.append(rung)
        rung *= factor
    return out


def survives(me: Entry, others: Sequence[Entry], maximize: bool, factor: int,
             warmup: int) -> bool:
    """Whether `me` is among the best ceil(n / factor) of everyone at its rung. Rounding up
    keeps more of a small bracket than Li et al.'s and Optuna's floor (two of five, not one):
    on the houses search it kept the unpruned search's best value, where floor lost 4.4%
    (median of five seeds, `bench/results.md`)."""
    if len(others) < warmup:
        return True
    ranked = sorted([me, *others], key=lambda e: rank_key(e, maximize))
    return ranked.index(me) < math.ceil(len(ranked) / factor)


class SuccessiveHalving(Pruner):
    """Successive halving: at rungs min_epochs * reduction_factor**i, only the best
    1/reduction_factor of the configurations that reached the rung go on."""

    name = "successive_halving"
    help = "at each rung only the best 1/reduction_factor of the configurations go on"
    parameters: ClassVar[dict[str, tuple[int, int, str]]] = {
        "min_epochs": (1, 1, "epochs of the first rung"),
        "reduction_factor": (3, 2, "one in this many configurations goes on at a rung"),
        "warmup_trials": (0, 0, "other configurations needed at a rung before pruning"),
        "synchronous": (False, 0, "judge a rung once every configuration of its cohort that a "
                        "worker is training has reached it (random draws: reproducible); "
                        "false: on the values stored so far, as ASHA does"),
    }
    min_epochs: int
    reduction_factor: int
    warmup_trials: int
    synchronous: bool

    def min_epochs_of(self, config_id: str, epochs: int, slot: int | None = None) -> int:
        return self.min_epochs

    def judges_at(self, config_id: str, epoch: int, epochs: int, slot: int | None = None
                  ) -> bool:
        return epoch in rungs(self.min_epochs_of(config_id, epochs, slot),
                              self.reduction_factor, epochs)

    def peers(self, me: Entry, others: Sequence[Entry], epochs: int) -> list[Entry]:
        mine = self.cohort(me.config_id, epochs, me.slot)
        return [e for e in others if e.config_id != me.config_id
                and self.cohort(e.config_id, epochs, e.slot) == mine]

    def prunes(self, me: Entry, others: Sequence[Entry], maximize: bool, epochs: int) -> bool:
        return not survives(me, self.peers(me, others, epochs), maximize,
                            self.reduction_factor, self.warmup_trials)


class Hyperband(SuccessiveHalving):
    """Hyperband: successive halving in brackets that start pruning at different epochs;
    each configuration belongs to one bracket (dealt by its slot, `deal_point`, in the
    shares of Li et al. 2018) and is compared only with the configurations of its bracket."""

    name = "hyperband"
    help = ("successive halving in brackets that start pruning at min_epochs * "
            "reduction_factor**b; a configuration is compared within its bracket")

    def brackets(self, epochs: int) -> list[tuple[int, int]]:
        """(first rung, weight) per bracket, the most aggressive first; the last starts at
        `epochs` or just below (its one rung, min_epochs * factor**s, prunes late), as
        Optuna's HyperbandPruner counts them (Li et al. count down from `epochs`)."""
        factor, top = self.reduction_factor, 0
        while self.min_epochs * factor ** (top + 1) <= epochs:
            top += 1
        out = []
        for s in range(top, -1, -1):  # s: how many rungs the bracket has
            weight = math.ceil((top + 1) / (s + 1) * factor**s)
            out.append((self.min_epochs * factor ** (top - s), weight))
        return out

    def bracket_of(self, config_id: str, epochs: int, slot: int | None = None) -> int:
        brackets = self.brackets(epochs)
        draw = deal_point(config_id, slot, sum(weight for _, weight in brackets))
        for index, (_, weight) in enumerate(brackets):
            if draw < weight:
                return index
            draw -= weight
        return len(brackets) - 1

    def min_epochs_of(self, config_id: str, epochs: int, slot: int | None = None) -> int:
        return self.brackets(epochs)[self.bracket_of(config_id, epochs, slot)][0]

    def cohort(self, config_id: str, epochs: int, slot: int | None = None) -> int:
        return self.bracket_of(config_id, epochs, slot)
