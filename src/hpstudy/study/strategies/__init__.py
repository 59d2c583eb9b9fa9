"""The strategies, by the name a study file gives: one object each (see `base.Strategy`)."""

from __future__ import annotations

from hpstudy.errors import ConfigError
from hpstudy.study.strategies.base import Strategy
from hpstudy.study.strategies.fixed import Ablation, Coordinate, Grid
from hpstudy.study.strategies.samplers import GP, QMC, TPE, Random

REGISTRY: dict[str, Strategy] = {
    s.name: s for s in (Ablation(), Grid(), Random(), TPE(), QMC(), GP(), Coordinate())
}
STRATEGIES = tuple(REGISTRY)

__all__ = ["REGISTRY", "STRATEGIES", "Strategy", "get_strategy"]


def get_strategy(name: object, source: str = "study file") -> Strategy:
    """The strategy a study file names, or a ConfigError listing the known ones."""
    strategy = REGISTRY.get(name) if isinstance(name, str) else None
    if strategy is None:
        raise ConfigError(f"In {source}: 'strategy' must be one of {', '.join(STRATEGIES)}. "
                          f"Got {name!r}.")
    return strategy
