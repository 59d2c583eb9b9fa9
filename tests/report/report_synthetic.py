"""Small synthetic studies for the report tests (no training, no storage)."""

from __future__ import annotations

import json
import math
from typing import Any

from hpstudy.study.records import COMPLETE, DIVERGED, FAILED, StudyData, TrainingRecord
from hpstudy.study.space import Range
from hpstudy.study.spec import StudySpec

DEFAULTS: dict[str, Any] = {"lr": 0.001, "width": 16, "loss": "mse"}
SPACE: dict[str, list[Any]] = {"lr": [0.001, 0.01, 1.0], "width": [8, 16], "loss": ["mse", "ce"]}

# Per configuration (as its change from the defaults), per seed: (train, val, time).
ABLATION: dict[str, dict[int, tuple[float, float, float]]] = {
    "": {0: (99.0, 97.0, 10.0), 1: (99.2, 97.4, 11.0), 2: (98.8, 96.9, 10.5)},
    "lr=0.01": {0: (99.5, 98.0, 10.2), 1: (99.6, 98.3, 10.1), 2: (99.4, 97.9, 10.3)},
    "lr=1.0": {0: (16.0, 17.0, 9.0), 1: (16.5, 17.5, 9.5), 2: (15.5, 16.0, 9.2)},
    "width=8": {0: (97.0, 96.0, 6.0), 1: (97.5, 96.2, 6.5), 2: (96.8, 95.1, 6.1)},
    "loss=ce": {0: (99.1, 97.6, 9.8), 1: (99.0, 97.3, 10.0), 2: (99.3, 97.8, 9.9)},
}


def change(text: str) -> dict[str, Any]:
    """'lr=0.01' -> the full configuration with that change."""
    params = dict(DEFAULTS)
    if text:
        key, value = text.split("=")
        params[key] = type(DEFAULTS[key])(value) if key != "loss" else value
    return params


def make_record(
    number: int,
    params: dict[str, Any],
    seed: int,
    status: str = COMPLETE,
    values: tuple[float, float, float] | None = None,
    **extra: Any,
) -> TrainingRecord:
    """A finished (or failed) training with short learning curves."""
    train, val, time = values if values is not None else (None, None, None)
    finished = status in (COMPLETE, DIVERGED)
    curves = (
        {
            "val_metric": [val * 0.5, val * 0.9, val],
            "train_loss": [1.0, 0.5, 0.2],
            "val_loss": [1.1, 0.6, 0.3],
        }
        if finished and val is not None
        else {}
    )
    return TrainingRecord(
        number=number,
        status=status,
        params=params,
        seed=seed,
        config_id=json.dumps(params, sort_keys=True),
        train_metric=train if finished else None,
        val_metric=val if finished else None,
        train_time_s=time if finished else None,
        epochs_run=3 if finished else None,
        curves=curves,
        **extra,
    )


def ablation_study(seeds: int = 3, **kwargs: Any) -> StudyData:
    """A maximize ablation over lr, width and loss; lr=1.0 diverged; one extra failed training."""
    records: list[TrainingRecord] = []
    for text, per_seed in ABLATION.items():
        for seed in range(seeds):
            status = DIVERGED if text == "lr=1.0" else COMPLETE
            records.append(make_record(len(records), change(text), seed, status, per_seed[seed]))
    records.append(make_record(len(records), change("width=16"), 9, FAILED, error="boom"))
    records.append(make_record(len(records), change("lr=0.01"), 9, FAILED, error="out of memory"))
    spec = StudySpec(name="abl", task="usps", strategy="ablation", repeats=seeds,
                     defaults=DEFAULTS, space=SPACE)
    return StudyData(
        name=kwargs.pop("name", "abl"),
        spec=spec,
        task="usps",
        direction="maximize",
        metric_name="accuracy (%)",
        defaults=dict(DEFAULTS),
        records=records,
        **kwargs,
    )


def random_study(n: int = 12) -> StudyData:
    """A minimize random study: val MSE driven mostly by lr, a little by width."""
    lrs, widths = [0.001, 0.01, 0.1], [8, 16, 32]
    records: list[TrainingRecord] = []
    for i in range(n):
        lr, width = i % 3, (i // 3) % 3
        params: dict[str, Any] = {"lr": lrs[lr], "width": widths[width], "loss": "mse"}
        val = 0.1 + 0.5 * lr + 0.01 * width
        records.append(make_record(i, params, 0, COMPLETE, (val - 0.01, val, 1.0 + i / 10)))
    spec = StudySpec(name="rnd", task="houses", strategy="random", defaults=DEFAULTS,
                     space={"lr": lrs, "width": widths, "loss": ["mse"]}, n_trials=n)
    return StudyData(
        name="rnd",
        spec=spec,
        task="houses",
        direction="minimize",
        metric_name="MSE",
        defaults=dict(DEFAULTS),
        records=records,
    )


def range_study(n: int = 16) -> StudyData:
    """A minimize tpe study over a log lr range, an int width range and listed activations."""
    records: list[TrainingRecord] = []
    for i in range(n):
        lr = 10 ** (-4 + 3 * i / (n - 1))
        params: dict[str, Any] = {"lr": lr, "width": 8 + 15 * ((5 * i) % n), "loss": "mse",
                                  "activation": ["relu", "tanh"][i % 2]}
        val = (math.log10(lr) + 2.5) ** 2 + 0.1 * (i % 2)
        records.append(make_record(i, params, 0, COMPLETE, (val, val, 1.0)))
    space = {"lr": Range(1e-4, 0.1, log=True), "width": Range(8, 256),
             "activation": ["relu", "tanh"]}
    spec = StudySpec(name="rng", task="houses", strategy="tpe", space=space, n_trials=n,
                     defaults={})
    return StudyData(name="rng", spec=spec, task="houses", direction="minimize",
                     metric_name="MSE", defaults=DEFAULTS | {"activation": "relu"},
                     records=records)
