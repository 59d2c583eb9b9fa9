"""The study file (TOML, data only): parsing, validation and the built-in presets.

Everything is checked before anything is written: a malformed file raises `ConfigError` with
one line naming the key and the problem.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import asdict, dataclass, field, fields, replace
from importlib import resources
from pathlib import Path
from typing import Any, Protocol

from hpstudy.config import Space
from hpstudy.errors import ConfigError
from hpstudy.study.pruning import parse_pruning
from hpstudy.study.space import Factor, Range, check_order, parse_range, stored_factor
from hpstudy.study.strategies import get_strategy

TOP_KEYS = ("name", "task", "strategy", "repeats", "seed", "final_seeds", "description",
            "defaults", "space", "budget", "pruning")
BUDGET_KEYS = ("n_trials", "max_minutes")
NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,99}")


class TaskLike(Protocol):
    """What validation needs from a task (kept free of torch imports)."""

    name: str

    @property
    def space(self) -> Space: ...


@dataclass(frozen=True)
class StudySpec:
    """A validated study file."""

    name: str
    task: str
    strategy: str = "ablation"
    repeats: int = 1
    description: str = ""
    defaults: dict[str, Any] = field(default_factory=dict)  # overrides of the task defaults
    space: dict[str, Factor] = field(default_factory=dict)  # per factor: values or a range
    n_trials: int | None = None  # configurations to sample (random, tpe, qmc, gp)
    max_minutes: float | None = None  # stop starting new trainings after this long
    epoch_scale: float = 1.0  # every configuration's epochs are multiplied by this
    seed: int = 0  # the sampler's seed (the trainings' seeds are 0..repeats-1)
    final_seeds: int | None = None  # the final choice is retrained on seeds 0..final_seeds-1
    # the [pruning] table with its rule's parameters filled in (see hpstudy.study.pruning)
    pruning: dict[str, Any] = field(default_factory=lambda: {"pruner": "none"})

    @property
    def prunes(self) -> bool:
        """Whether a pruning rule may stop configurations early."""
        return self.pruning.get("pruner", "none") != "none"

    @property
    def final_seed_list(self) -> list[int]:
        """The seeds the final choice is retrained and tested on (default: the study's)."""
        return list(range(self.final_seeds or self.repeats))

    def to_dict(self) -> dict[str, Any]:
        """The spec as plain data, as stored with the study (a range as its fields)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> StudySpec:
        """The spec stored with a study (`to_dict`'s output; `seed` may be missing)."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(f"The stored study spec holds unknown keys {unknown}; it was "
                              "written by a newer hpstudy.")
        try:
            space = {key: stored_factor(value) for key, value in data.get("space", {}).items()}
            return cls(**{**data, "space": space})
        except (TypeError, KeyError, AttributeError) as exc:
            raise ConfigError(f"The stored study spec is incomplete or malformed ({exc}).") from exc

    def with_overrides(self, repeats: int | None, epoch_scale: float | None) -> StudySpec:
        """The spec with command-line `--repeats` / `--epoch-scale` applied."""
        spec = self
        if repeats is not None:
            spec = replace(spec, repeats=_positive_int("--repeats", repeats))
        if epoch_scale is not None:
            if isinstance(epoch_scale, bool) or not epoch_scale > 0 or epoch_scale == float("inf"):
                raise ConfigError(f"--epoch-scale must be a number > 0. Got {epoch_scale!r}.")
            spec = replace(spec, epoch_scale=float(epoch_scale))
        return spec

    def scale_epochs(self, epochs: int) -> int:
        return max(1, round(epochs * self.epoch_scale))


def preset_names() -> list[str]:
    """The built-in presets, by name."""
    folder = resources.files("hpstudy.study").joinpath("presets")
    return sorted(entry.name[:-5] for entry in folder.iterdir()
                  if entry.name.endswith(".toml") and entry.name.count(".") == 1)


def preset_final_choice(name: str) -> dict[str, Any] | None:
    """The hyperparameters the report's authors changed for their final configuration (the
    preset's `NAME.final.toml`), or None for a study that is not a preset."""
    if name not in preset_names():
        return None
    path = preset_path(name).with_suffix(".final.toml")
    return tomllib.loads(path.read_text(encoding="utf-8")) if path.is_file() else None


def preset_path(name: str) -> Path:
    return Path(str(resources.files("hpstudy.study").joinpath("presets", f"{name}.toml")))


def read_spec_file(name_or_path: str) -> tuple[dict[str, Any], str]:
    """The raw TOML data of a preset name or a file path, and a label for messages."""
    is_path = name_or_path.endswith(".toml") or "/" in name_or_path
    if not is_path:
        if name_or_path not in preset_names():
            known = ", ".join(preset_names())
            raise ConfigError(f"Unknown preset {name_or_path!r}. Presets: {known}; "
                              "or give the path of a .toml study file.")
        path = preset_path(name_or_path)
    else:
        path = Path(name_or_path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"Cannot read study file {str(path)!r}: {exc}") from exc
    try:
        return tomllib.loads(text), str(path)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"Study file {str(path)!r} is not valid TOML: {exc}") from exc


def load_spec(name_or_path: str) -> StudySpec:
    """Read and structurally validate a preset or a study file."""
    data, source = read_spec_file(name_or_path)
    return parse_spec(data, source)


def _positive_int(key: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"{key!r} must be an int >= 1. Got {value!r}.")
    return value


def _table(data: dict[str, Any], key: str, source: str) -> dict[str, Any]:
    value = data.get(key, {})
    if not isinstance(value, dict):
        raise ConfigError(f"In {source}: [{key}] must be a table. Got {value!r}.")
    return value


def parse_spec(data: dict[str, Any], source: str = "study file") -> StudySpec:
    """Check the file's structure (keys, types, strategy, budget); the values are checked
    against the task by `validate_for_task`."""
    for key in data:
        if key not in TOP_KEYS:
            raise ConfigError(f"In {source}: unknown key {key!r}. Known: {', '.join(TOP_KEYS)}.")
    for key in ("name", "task"):
        if not isinstance(data.get(key), str):
            raise ConfigError(f"In {source}: {key!r} is required and must be a string.")
    if not NAME_PATTERN.fullmatch(data["name"]):
        raise ConfigError(f"In {source}: 'name' must be letters, digits, '_', '-' or '.', "
                          f"starting with a letter or digit. Got {data['name']!r}.")
    strategy = get_strategy(data.get("strategy", "ablation"), source)
    description = data.get("description", "")
    if not isinstance(description, str):
        raise ConfigError(f"In {source}: 'description' must be a string.")
    space = _parse_space(_table(data, "space", source), source)
    budget = _table(data, "budget", source)
    for key in budget:
        if key not in BUDGET_KEYS:
            raise ConfigError(f"In {source}: unknown key 'budget.{key}'. "
                              f"Known: {', '.join(BUDGET_KEYS)}.")
    n_trials = budget.get("n_trials")
    if n_trials is not None:
        _positive_int("budget.n_trials", n_trials)
    seed = data.get("seed", 0)
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ConfigError(f"In {source}: 'seed' must be an int >= 0. Got {seed!r}.")
    max_minutes = budget.get("max_minutes")
    if max_minutes is not None and (
        isinstance(max_minutes, bool) or not isinstance(max_minutes, int | float)
        or not 0 < max_minutes < float("inf")
    ):
        raise ConfigError(f"In {source}: 'budget.max_minutes' must be a number > 0. "
                          f"Got {max_minutes!r}.")
    spec = StudySpec(
        name=data["name"], task=data["task"], strategy=strategy.name,
        repeats=_positive_int("repeats", data.get("repeats", 1)), description=description,
        defaults=_table(data, "defaults", source), space=space, n_trials=n_trials,
        max_minutes=None if max_minutes is None else float(max_minutes), seed=seed,
        final_seeds=None if "final_seeds" not in data
        else _positive_int("final_seeds", data["final_seeds"]),
        pruning=parse_pruning(data.get("pruning", {}), source),
    )
    strategy.check(spec, source)
    return spec


def _parse_space(space: dict[str, Any], source: str) -> dict[str, Factor]:
    parsed: dict[str, Factor] = {}
    for key, values in space.items():
        if isinstance(values, dict):
            parsed[key] = parse_range(key, values, source)
            continue
        if not isinstance(values, list):
            raise ConfigError(f"In {source}: 'space.{key}' must be a list of values or a range "
                              f"{{low, high, log, step, n}}. Got {values!r}.")
        if not values:
            raise ConfigError(f"In {source}: 'space.{key}' is empty; give at least one value.")
        parsed[key] = list(values)
    return parsed


def validate_for_task(spec: StudySpec, task: TaskLike) -> StudySpec:
    """Check defaults and space values against the task; returns the spec with canonical types
    (ints where floats are expected become floats) and duplicates removed."""
    source = f"study {spec.name!r}"
    defaults = {key: _check(task, f"defaults.{key}", key, value, source)
                for key, value in spec.defaults.items()}
    space: dict[str, Factor] = {}
    for key, values in spec.space.items():
        if key == "seed":
            raise ConfigError(f"In {source}: 'space.seed' is not allowed; use 'repeats'.")
        if isinstance(values, Range):
            space[key] = _check_range(task, key, values, source)
        else:
            checked = [_check(task, f"space.{key}", key, value, source) for value in values]
            space[key] = list(dict.fromkeys(checked))
    return replace(spec, defaults=defaults, space=space)


def range_kind(task: TaskLike, key: str) -> str:
    """The kind of a declared hyperparameter's values ("int" and "float" take ranges)."""
    return task.space.param(key).kind


def _check_range(task: TaskLike, key: str, factor: Range, source: str) -> Range:
    """A range's ends checked like any value of the hyperparameter, in order; `log` unset
    takes the declaration's (a hyperparameter declared log-scaled, like lr, is sampled so)."""
    label = f"space.{key}"
    if key in task.space and range_kind(task, key) not in ("int", "float"):
        raise ConfigError(f"In {source}: {label!r}: {key!r} is not numeric; give a list of "
                          "values instead of a range.")
    low = _check(task, f"{label}.low", key, factor.low, source)
    high = _check(task, f"{label}.high", key, factor.high, source)
    log = factor.log
    if log is None and task.space.param(key).log and factor.step is None:
        if low <= 0:
            raise ConfigError(f"In {source}: {label!r}: {key!r} is declared log-scaled, so its "
                              f"range needs low > 0 (or log = false). Got low={low!r}.")
        log = True
    check_order(key, low, high, bool(log), source)
    step = factor.step
    if step is not None and range_kind(task, key) == "int":
        if not isinstance(step, int):
            raise ConfigError(f"In {source}: '{label}.step' must be an int for the int "
                              f"hyperparameter {key!r}. Got {step!r}.")
    elif step is not None:
        step = float(step)
    return Range(low, high, bool(log), step, factor.n)


def _check(task: TaskLike, label: str, key: str, value: Any, source: str) -> Any:
    if key not in task.space:
        raise ConfigError(f"In {source}: {label!r}: unknown hyperparameter {key!r} for task "
                          f"{task.name!r}. Known: {', '.join(task.space.names)}.")
    try:
        return task.space.check(key, value)
    except ConfigError as exc:
        raise ConfigError(f"In {source}: {label!r}: {exc}") from exc
