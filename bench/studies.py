"""The trainings of the report's two seed studies, for the reference side of the benchmarks.

`study_trainings` asks hpstudy's own study planner when it is importable, so that both sides
train exactly the same list; otherwise it builds the list from the report's appendix (the
ablation around the default configuration, each factor's values one at a time, duplicates
removed, epochs scaled by max(1, round(epochs * scale))).
"""

from __future__ import annotations

import logging
from typing import Any

logger = logging.getLogger(__name__)

Training = tuple[dict[str, Any], int]  # (hyperparameters without the seed, seed)

APPENDIX: dict[str, dict[str, Any]] = {
    "usps-seed": {
        "task": "usps",
        "defaults": {"layers": 2, "width": 16, "activation": "relu", "batch_size": 64,
                     "lr": 0.001, "epochs": 30, "optimizer": "adam", "loss": "mse"},
        "space": {
            "layers": [1, 2, 3, 5],
            "width": [8, 16, 32, 64],
            "activation": ["relu", "sigmoid", "tanh", "leaky_relu"],
            "batch_size": [16, 32, 64, 128],
            "lr": [0.001, 0.01, 0.1, 1.0],
            "epochs": [10, 30, 50, 100],
            "optimizer": ["adam", "rmsprop"],
            "loss": ["mse", "cross_entropy"],
        },
    },
    "houses-seed": {
        "task": "houses",
        "defaults": {"layers": 3, "width": 16, "activation": "relu", "batch_size": 32,
                     "lr": 0.001, "epochs": 100, "optimizer": "adam", "loss": "mse"},
        "space": {
            "layers": [1, 2, 3, 5],
            "width": [8, 16, 32, 64, 128],
            "activation": ["relu", "sigmoid", "tanh", "leaky_relu"],
            "batch_size": [8, 16, 32, 64],
            "lr": [0.0001, 0.001, 0.01, 0.1],
            "epochs": [50, 100, 200, 500, 1000],
            "optimizer": ["adam", "rmsprop"],
            "loss": ["mse", "gaussian_nll"],
        },
    },
}


def study_task(name: str) -> str:
    """The task a seed study trains."""
    return str(APPENDIX[name]["task"])


def scale_epochs(epochs: int, scale: float) -> int:
    return max(1, round(epochs * scale))


def appendix_trainings(name: str, repeats: int, epoch_scale: float) -> list[Training]:
    """The study's trainings built from the report's appendix."""
    study = APPENDIX[name]
    base = dict(study["defaults"])
    base["epochs"] = scale_epochs(base["epochs"], epoch_scale)
    configs = [base]
    for factor, values in study["space"].items():
        for value in values:
            if factor == "epochs":
                value = scale_epochs(value, epoch_scale)
            config = base | {factor: value}
            if config not in configs:
                configs.append(config)
    return [(config, seed) for config in configs for seed in range(repeats)]


def planner_trainings(name: str, repeats: int, epoch_scale: float) -> list[Training]:
    """The study's trainings as hpstudy's planner lists them (ImportError if it has none)."""
    from hpstudy.study import spec as spec_module
    from hpstudy.study import strategies
    from hpstudy.tasks import get_task

    spec = spec_module.load_spec(name).with_overrides(repeats, epoch_scale)
    task = get_task(spec.task)
    if hasattr(strategies, "expand_fixed"):
        return [(dict(params), int(seed)) for params, seed in strategies.expand_fixed(spec, task)]
    planned = strategies.plan_fixed(spec, task.default_config().as_dict())
    return [(dict(p.params), int(p.seed)) for p in planned]


def study_trainings(name: str, repeats: int, epoch_scale: float) -> tuple[list[Training], str]:
    """The study's trainings and where the list came from ("hpstudy" or "appendix")."""
    try:
        trainings = planner_trainings(name, repeats, epoch_scale)
    except (ImportError, AttributeError, TypeError) as exc:
        logger.info("hpstudy's planner is not usable (%s); using the appendix lists", exc)
        return appendix_trainings(name, repeats, epoch_scale), "appendix"
    return trainings, "hpstudy"
