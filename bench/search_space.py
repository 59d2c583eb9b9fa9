"""The search benchmark's spaces, shared by both sides: hpstudy's study file and the plain
Optuna script's `trial.suggest_*` calls are written from the same table."""

from __future__ import annotations

from typing import Any

import optuna

# per factor: ("float" | "int", low, high, log) or ("choice", [values])
Space = dict[str, tuple[Any, ...]]
SPACES: dict[str, Space] = {
    "houses": {
        "lr": ("float", 1e-4, 3e-2, True),
        "width": ("int", 8, 128, True),
        "batch_size": ("int", 16, 128, True),
        "layers": ("int", 1, 4, False),
        "dropout": ("float", 0.0, 0.3, False),
    },
    "usps": {
        "lr": ("float", 1e-4, 1e-2, True),
        "width": ("int", 8, 48, True),
        "batch_size": ("int", 32, 256, True),
        "layers": ("int", 1, 3, False),
        "dropout": ("float", 0.0, 0.5, False),
        "batch_norm": ("choice", [False, True]),
        "augment_shift": ("choice", [0, 1, 2]),
    },
}


def suggest(trial: optuna.Trial, space: Space) -> dict[str, Any]:
    """One configuration drawn by `trial` (the plain Optuna side)."""
    params: dict[str, Any] = {}
    for name, factor in space.items():
        if factor[0] == "float":
            params[name] = trial.suggest_float(name, factor[1], factor[2], log=factor[3])
        elif factor[0] == "int":
            params[name] = trial.suggest_int(name, factor[1], factor[2], log=factor[3])
        else:
            params[name] = trial.suggest_categorical(name, factor[1])
    return params


def toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return repr(value)


def study_toml(name: str, task: str, strategy: str, n_trials: int, pruner: str,
               seed: int = 0, reduction_factor: int = 3) -> str:
    """hpstudy's study file for the same search (Hyperband from epoch 1, pruning two of every
    three configurations of a rung by default: `reduction_factor`)."""
    lines = [f'name = "{name}"', f'task = "{task}"', f'strategy = "{strategy}"',
             f"seed = {seed}", "", "[space]"]
    for factor_name, factor in SPACES[task].items():
        if factor[0] == "choice":
            lines.append(f"{factor_name} = [{', '.join(map(toml_value, factor[1]))}]")
        else:
            log = "true" if factor[3] else "false"
            lines.append(f"{factor_name} = {{low = {toml_value(factor[1])}, "
                         f"high = {toml_value(factor[2])}, log = {log}}}")
    lines += ["", "[budget]", f"n_trials = {n_trials}", "", "[pruning]",
              f'pruner = "{pruner}"']
    if pruner == "hyperband":
        lines += ["min_epochs = 1", f"reduction_factor = {reduction_factor}"]
    lines.append("")
    return "\n".join(lines)
