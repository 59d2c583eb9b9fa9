"""Hyperparameters of one training: the typed config, its validation and `key=value` parsing.

Every task trains with a `TrainConfig`. A task picks which fields it uses, their defaults and,
for `loss`, the allowed values; `validate_params` checks user input against those rules and
raises `ConfigError` with one line naming the parameter, the rule and the value.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from hpstudy.errors import ConfigError

ACTIVATIONS = ("relu", "sigmoid", "tanh", "leaky_relu", "gelu", "elu", "silu")
OPTIMIZERS = ("adam", "rmsprop", "sgd", "adamw")


@dataclass(frozen=True)
class TrainConfig:
    """One training's hyperparameters (defaults: the report's USPS baseline)."""

    layers: int = 2  # hidden layers: convolutions (usps) or linear layers (houses)
    width: int = 16  # channels per convolution or units per hidden layer
    activation: str = "relu"  # one of ACTIVATIONS
    batch_size: int = 64  # examples per optimizer step
    lr: float = 0.001  # learning rate
    epochs: int = 30  # passes over the training split
    optimizer: str = "adam"  # one of OPTIMIZERS; sgd uses momentum 0.9
    loss: str = "mse"  # training loss; the task lists its choices
    seed: int = 0  # initial weights and shuffle order
    weight_decay: float = 0.0  # L2 penalty passed to the optimizer
    normalize: bool = True  # standardize features and target (houses only)

    def replace(self, **changes: Any) -> TrainConfig:
        """A copy with some fields changed (values are assumed validated)."""
        return dataclasses.replace(self, **changes)

    def as_dict(self, names: Sequence[str] | None = None) -> dict[str, Any]:
        """The fields as a plain dict, restricted to `names` when given."""
        values = dataclasses.asdict(self)
        return values if names is None else {name: values[name] for name in names}


@dataclass(frozen=True)
class ParamRule:
    """How one hyperparameter is checked: its type, an optional lower bound or a set of choices."""

    kind: type
    rule: str  # human wording, used in error messages
    minimum: float | None = None
    exclusive: bool = False  # minimum is a strict bound
    choices: tuple[str, ...] | None = None


RULES: dict[str, ParamRule] = {
    "layers": ParamRule(int, "an int >= 1", 1),
    "width": ParamRule(int, "an int >= 1", 1),
    "activation": ParamRule(str, "one of " + ", ".join(ACTIVATIONS), choices=ACTIVATIONS),
    "batch_size": ParamRule(int, "an int >= 1", 1),
    "lr": ParamRule(float, "a float > 0", 0.0, exclusive=True),
    "epochs": ParamRule(int, "an int >= 1", 1),
    "optimizer": ParamRule(str, "one of " + ", ".join(OPTIMIZERS), choices=OPTIMIZERS),
    "loss": ParamRule(str, "a loss name"),
    "seed": ParamRule(int, "an int >= 0", 0),
    "weight_decay": ParamRule(float, "a float >= 0", 0.0),
    "normalize": ParamRule(bool, "true or false"),
}


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


def check_value(name: str, value: Any, rule: ParamRule, choices: Sequence[Any] | None) -> Any:
    """Return `value` converted to the rule's type, or raise ConfigError naming the problem."""
    wording = rule.rule if choices is None else "one of " + ", ".join(map(str, choices))
    error = ConfigError(f"The {name!r} hyperparameter must be {wording}. Got {value!r}.")
    if rule.kind is bool:
        if not isinstance(value, bool):
            raise error
        return value
    if isinstance(value, bool):
        raise error
    if rule.kind is float and isinstance(value, int):
        value = float(value)
    if not isinstance(value, rule.kind):
        raise error
    if isinstance(value, float) and not math.isfinite(value):
        raise error
    if choices is not None and value not in choices:
        raise error
    if rule.minimum is not None and isinstance(value, int | float):
        too_small = value <= rule.minimum if rule.exclusive else value < rule.minimum
        if too_small:
            raise error
    return value


def validate_params(
    task_name: str,
    names: Sequence[str],
    values: Mapping[str, Any],
    choices: Mapping[str, Sequence[Any]],
) -> dict[str, Any]:
    """Check `values` against the task's hyperparameters; return them with canonical types."""
    checked: dict[str, Any] = {}
    for name, value in values.items():
        if name not in names:
            known = ", ".join(names)
            raise ConfigError(
                f"Unknown hyperparameter {name!r} for task {task_name!r}. Known: {known}."
            )
        checked[name] = check_value(name, value, RULES[name], choices.get(name))
    return checked
