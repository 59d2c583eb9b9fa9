"""A study's search space: per factor, a list of values or a range `{low, high, log, step, n}`.

Ranges are Optuna distributions (`FloatDistribution`, `IntDistribution`) for the samplers and
`n` points (log-spaced when `log`) for the strategies that need finite values.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)

from hpstudy.errors import ConfigError

RANGE_KEYS = ("low", "high", "log", "step", "n")


@dataclass(frozen=True)
class Range:
    """A numeric range; `low` and `high` are ints for an int hyperparameter, else floats."""

    low: float
    high: float
    log: bool | None = None  # sample (or space the points) on a log scale; None: as declared
    step: float | None = None  # sample on the grid low, low + step, ... (samplers only)
    n: int | None = None  # points, for the strategies that need finite values

    @property
    def is_int(self) -> bool:
        return isinstance(self.low, int) and isinstance(self.high, int)

    def points(self) -> list[Any]:
        """The `n` points from low to high (log-spaced when `log`; ints rounded, no repeats)."""
        count = self.n or 1
        spaced = np.geomspace if self.log else np.linspace
        values = [float(v) for v in spaced(self.low, self.high, count)]
        if count > 1:
            values[0], values[-1] = float(self.low), float(self.high)  # exact ends
        if self.is_int:
            return list(dict.fromkeys(int(round(v)) for v in values))
        return values

    def distribution(self) -> BaseDistribution:
        if self.is_int:
            return IntDistribution(int(self.low), int(self.high), log=bool(self.log),
                                   step=int(self.step or 1))
        return FloatDistribution(float(self.low), float(self.high), log=bool(self.log),
                                 step=self.step)

    def scaled(self, scale: Any) -> Range:
        """The range with `scale` applied to both ends (used for `epochs` under --epoch-scale)."""
        return Range(scale(self.low), scale(self.high), self.log, self.step, self.n)


Factor = list[Any] | Range


def parse_range(key: str, table: dict[str, Any], source: str) -> Range:
    """The structure of a range table (types, keys); values are checked against the
    hyperparameter by the spec's validation."""
    label = f"In {source}: 'space.{key}'"
    unknown = [k for k in table if k not in RANGE_KEYS]
    if unknown:
        raise ConfigError(f"{label}: unknown key {unknown[0]!r} in a range. "
                          f"Known: {', '.join(RANGE_KEYS)}.")
    for bound in ("low", "high"):
        if bound not in table:
            raise ConfigError(f"{label}: a range needs 'low' and 'high'. Got {table!r}.")
    log = table.get("log")
    if log is not None and not isinstance(log, bool):
        raise ConfigError(f"{label}.log must be true or false. Got {log!r}.")
    n = table.get("n")
    if n is not None and (isinstance(n, bool) or not isinstance(n, int) or n < 1):
        raise ConfigError(f"{label}.n must be an int >= 1 (points). Got {n!r}.")
    step = table.get("step")
    if step is not None and (isinstance(step, bool) or not isinstance(step, int | float)
                             or not 0 < step < math.inf):
        raise ConfigError(f"{label}.step must be a number > 0. Got {step!r}.")
    if step is not None and log is True:
        raise ConfigError(f"{label}: a range takes 'step' or 'log = true', not both.")
    if step is not None and n is not None:
        raise ConfigError(f"{label}: a range takes 'n' (points) or 'step', not both.")
    return Range(table["low"], table["high"], log, step, n)


def check_order(key: str, low: Any, high: Any, log: bool | None, source: str) -> None:
    """A range's ends in order, and positive when log-scaled."""
    label = f"In {source}: 'space.{key}'"
    if log and low <= 0:
        raise ConfigError(f"{label}: a range with log = true needs low > 0. Got low={low!r}.")
    if low > high:
        raise ConfigError(f"{label}: a range needs low <= high. Got low={low!r}, high={high!r}.")


def finite_values(factor: Factor) -> list[Any]:
    """The values a strategy with finite values tries: the list, or the range's points."""
    return factor.points() if isinstance(factor, Range) else list(factor)


def stored_factor(value: Any) -> Factor:
    """A factor as read back from storage (a list, or a range's fields)."""
    if isinstance(value, dict):
        return Range(value["low"], value["high"], value.get("log"), value.get("step"),
                     value.get("n"))
    return list(value)


def space_size(distributions: dict[str, BaseDistribution]) -> float:
    """How many distinct configurations the distributions hold (inf for continuous ones)."""
    size = 1.0
    for dist in distributions.values():
        if isinstance(dist, CategoricalDistribution):
            size *= len(dist.choices)
        elif isinstance(dist, IntDistribution):
            size *= (dist.high - dist.low) // dist.step + 1
        elif isinstance(dist, FloatDistribution) and dist.step is not None:
            size *= math.floor((dist.high - dist.low) / dist.step + 1e-9) + 1
        else:
            return math.inf
    return size
