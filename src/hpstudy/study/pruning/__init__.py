"""Pruning: rules that stop a losing configuration early, by the name a study file gives.

The unit judged is a configuration: its value at an epoch is the mean over its seeds at that
epoch, and all its seeds stop together (see `docs/pruning.md`).
"""

from __future__ import annotations

from typing import Any

from hpstudy.errors import ConfigError
from hpstudy.study.pruning.rules import (
    Entry,
    Hyperband,
    Median,
    NoPruning,
    Pruner,
    SuccessiveHalving,
)

REGISTRY: dict[str, type[Pruner]] = {
    rule.name: rule for rule in (NoPruning, Median, SuccessiveHalving, Hyperband)
}
PRUNERS = tuple(REGISTRY)

__all__ = ["PRUNERS", "REGISTRY", "Entry", "Pruner", "build_pruner", "parse_pruning"]


def parse_pruning(table: Any, source: str) -> dict[str, Any]:
    """The `[pruning]` table checked, with every parameter of its rule filled in
    (`{"pruner": "none"}` when the table is absent)."""
    if not isinstance(table, dict):
        raise ConfigError(f"In {source}: [pruning] must be a table. Got {table!r}.")
    name = table.get("pruner", "none")
    rule = REGISTRY.get(name) if isinstance(name, str) else None
    if rule is None:
        raise ConfigError(f"In {source}: 'pruning.pruner' must be one of {', '.join(PRUNERS)}. "
                          f"Got {name!r}.")
    params = {key: value for key, value in table.items() if key != "pruner"}
    return {"pruner": rule.name, **rule.check(params, source)}


def build_pruner(pruning: dict[str, Any]) -> Pruner:
    """The rule a checked `[pruning]` table (as `parse_pruning` returns it) names."""
    params = {key: value for key, value in pruning.items() if key != "pruner"}
    return REGISTRY[pruning.get("pruner", "none")](**params)
