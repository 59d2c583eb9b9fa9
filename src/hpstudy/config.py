"""Declared hyperparameters and the configuration built from them.

A `Param` declares one hyperparameter where it is used: the trainer declares its knobs once
(`hpstudy.train_params`), each task declares its model's (`Task.params`), and a task of one's
own adds more. `Space` is one task's declarations, in order; `Space.config` is the one way to
build a `Config`, and checks every value with one error shape:
`The 'lr' hyperparameter must be a float > 0. Got -1.`
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Literal

from hpstudy.errors import ConfigError

Kind = Literal["int", "float", "bool", "choice"]
ACTIVATIONS = ("relu", "sigmoid", "tanh", "leaky_relu", "gelu", "elu", "silu")
OPTIMIZERS = ("adam", "rmsprop", "sgd", "adamw")


class UndeclaredHyperparameter(ConfigError, AttributeError):
    """A task reads a hyperparameter it does not declare (`cfg.kernel` without `kernel` in
    `params`): a configuration error for the command line, an AttributeError for Python."""


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


@dataclass(frozen=True)
class Param:
    """One declared hyperparameter. Bounds are inclusive unless `low_open`/`high_open`; a
    `default` of None means "decided by other settings" and is the only None accepted."""

    name: str
    kind: Kind
    default: Any
    help: str
    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False
    choices: tuple[Any, ...] = ()
    log: bool = False  # naturally log-scaled (sampled and drawn on a log axis)

    @property
    def rule(self) -> str:
        """The rule in words, as error messages and `hpstudy tasks` state it."""
        if self.kind == "bool":
            return "true or false"
        if self.kind == "choice":
            return "one of " + ", ".join(map(str, self.choices))
        noun = "an int" if self.kind == "int" else "a float"
        low, high = self.low, self.high
        if low is not None and high is not None:
            return (f"{noun} in {'(' if self.low_open else '['}{_number(low)}, "
                    f"{_number(high)}{')' if self.high_open else ']'}")
        if low is not None:
            return f"{noun} {'>' if self.low_open else '>='} {_number(low)}"
        if high is not None:
            return f"{noun} {'<' if self.high_open else '<='} {_number(high)}"
        return noun

    def check(self, value: Any) -> Any:
        """`value` in the declared kind (an int where a float is declared becomes a float), or
        a ConfigError naming the parameter, the rule and the value."""
        if value is None and self.default is None:
            return None
        error = ConfigError(f"The {self.name!r} hyperparameter must be {self.rule}. "
                            f"Got {value!r}.")
        if self.kind == "choice":
            if isinstance(value, bool) or not any(
                    value == c and type(value) is type(c) for c in self.choices):
                raise error
            return value
        if self.kind == "bool" or isinstance(value, bool):
            if self.kind != "bool" or not isinstance(value, bool):
                raise error
            return value
        if self.kind == "float" and isinstance(value, int):
            value = float(value)
        if not isinstance(value, int if self.kind == "int" else float):
            raise error
        if isinstance(value, float) and not math.isfinite(value):
            raise error
        if self.low is not None and (value <= self.low if self.low_open else value < self.low):
            raise error
        if self.high is not None and (value >= self.high if self.high_open
                                      else value > self.high):
            raise error
        return value


def Int(name: str, default: int, help: str, *, low: int | None = None,  # noqa: N802
        high: int | None = None, log: bool = False) -> Param:
    """An integer hyperparameter with inclusive bounds."""
    return Param(name, "int", default, help, low=low, high=high, log=log)


def Float(name: str, default: float | None, help: str, *, low: float | None = None,  # noqa: N802
          high: float | None = None, low_open: bool = False, high_open: bool = False,
          log: bool = False) -> Param:
    """A float hyperparameter; bounds are inclusive unless `low_open` / `high_open`."""
    return Param(name, "float", default, help, low=low, high=high, low_open=low_open,
                 high_open=high_open, log=log)


def Bool(name: str, default: bool, help: str) -> Param:  # noqa: N802
    """A true/false hyperparameter."""
    return Param(name, "bool", default, help)


def Choice(name: str, default: Any, choices: Sequence[Any], help: str) -> Param:  # noqa: N802
    """A hyperparameter that takes one of a fixed set of values."""
    return Param(name, "choice", default, help, choices=tuple(choices))


class Config:
    """One training's hyperparameters, read as attributes (`cfg.lr`, `cfg.dropout`). Immutable
    and hashable; built by `Space.config` only, so every value in it has been checked."""

    __slots__ = ("_values", "_key")

    def __init__(self, values: Mapping[str, Any]):
        object.__setattr__(self, "_values", dict(values))
        object.__setattr__(self, "_key", tuple(values.items()))

    def __getattr__(self, name: str) -> Any:
        try:
            return self._values[name]
        except KeyError:
            raise UndeclaredHyperparameter(
                f"No hyperparameter {name!r} in this configuration (declared: "
                f"{', '.join(self._values)}); declare it in the task's `params`.") from None

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("A Config is immutable; use replace(name=value).")

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Config) and self._key == other._key

    def __hash__(self) -> int:
        return hash(self._key)

    def __repr__(self) -> str:
        return "Config(" + ", ".join(f"{k}={v!r}" for k, v in self._key) + ")"

    def __getstate__(self) -> dict[str, Any]:
        return self._values

    def __setstate__(self, state: dict[str, Any]) -> None:
        object.__setattr__(self, "_values", dict(state))
        object.__setattr__(self, "_key", tuple(state.items()))

    def replace(self, **changes: Any) -> Config:
        """A copy with some values changed (values already checked, names already declared)."""
        unknown = [name for name in changes if name not in self._values]
        if unknown:
            raise AttributeError(f"No hyperparameter {unknown[0]!r} in this configuration.")
        return Config(self._values | changes)

    def as_dict(self, names: Iterable[str] | None = None) -> dict[str, Any]:
        """The values as a plain dict, restricted to `names` when given."""
        values = dict(self._values)
        return values if names is None else {name: values[name] for name in names}


class Space:
    """A task's declared hyperparameters, in order, with the task's defaults applied."""

    def __init__(self, owner: str, params: Iterable[Param], defaults: Mapping[str, Any]):
        self.owner = owner
        self.params: dict[str, Param] = {}
        for param in params:
            self.params[param.name] = param  # a later declaration replaces an earlier one
        for name, value in defaults.items():
            if name not in self.params:
                raise ConfigError(f"Task {owner!r} sets a default for {name!r}, which it does "
                                  f"not declare. Declared: {', '.join(self.params)}.")
            param = self.params[name]
            self.params[name] = replace(param, default=param.check(value))

    def __contains__(self, name: object) -> bool:
        return name in self.params

    def __iter__(self) -> Iterator[Param]:
        return iter(self.params.values())

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self.params)

    def param(self, name: str) -> Param:
        """The declaration of `name`, or a ConfigError listing the declared ones."""
        if name not in self.params:
            raise ConfigError(f"Unknown hyperparameter {name!r} for task {self.owner!r}. "
                              f"Known: {', '.join(self.params)}.")
        return self.params[name]

    def check(self, name: str, value: Any) -> Any:
        """One value checked against its declaration."""
        return self.param(name).check(value)

    def defaults(self) -> dict[str, Any]:
        return {name: param.default for name, param in self.params.items()}

    def config(self, values: Mapping[str, Any] | None = None) -> Config:
        """The defaults with checked `values` applied."""
        checked = {name: self.check(name, value) for name, value in (values or {}).items()}
        return Config(self.defaults() | checked)


def parse_value(text: str) -> Any:
    """Parse a command-line value: int, float, true/false, or a bare string."""
    lowered = text.strip().lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text.strip()


def parse_overrides(items: Sequence[str]) -> dict[str, Any]:
    """Turn `["lr=0.01", "layers=3"]` into `{"lr": 0.01, "layers": 3}`."""
    overrides: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"Expected --set KEY=VALUE. Got {item!r}.")
        overrides[key.strip()] = parse_value(value)
    return overrides
