"""The final choice: pick a configuration by a stated rule, retrain it with the study's seeds
and evaluate it on the test set exactly once.

The choice waits for the study to finish (or is forced, and then says on how many of the
study's trainings it was made). The numbers are stored with the study (user attribute `final`,
with the moment and the study's progress then) and in `final.json`; asking again returns the
stored numbers and never touches the test set again; asking for another rule is an error.
The retrained models are saved as state dicts and read back with
`torch.load(..., weights_only=True)` before the test evaluation.
"""

from __future__ import annotations

import json
import logging
import statistics
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import torch

from hpstudy.errors import ConfigError
from hpstudy.study import retrain
from hpstudy.study.final_claim import FinalClaim
from hpstudy.study.progress import describe_choice, study_progress
from hpstudy.study.reader import read_study
from hpstudy.study.records import StudyData
from hpstudy.study.selection import DEFAULT_TOLERANCE
from hpstudy.study.spec import preset_final_choice
from hpstudy.study.storage import Store
from hpstudy.study.strategies import get_strategy
from hpstudy.tasks import Splits, Task, get_task
from hpstudy.train import Trainer, evaluate

log = logging.getLogger(__name__)
RULES = ("best", "fast", "combine", "report")


def plain(params: dict[str, Any]) -> dict[str, Any]:
    """Parameters as plain Python values (tables may hand back numpy scalars)."""
    return {key: value.item() if hasattr(value, "item") else value for key, value in params.items()}


def train_model(task: Task, cfg: Any, splits: Splits, device: str) -> Trainer:
    """Train `cfg` for all its epochs (no early stop) and return the trainer holding the model."""
    trainer = Trainer(task, cfg, splits, device)
    for _ in range(cfg.epochs):
        trainer.run_epoch()
    return trainer


def combine_candidate(
    data: StudyData, task: Task, splits: Splits, seeds: list[int], device: str
) -> dict[str, Any] | None:
    """The combination of every factor's best value, trained on the study's seeds when the
    study never trained it."""
    strategy = get_strategy(data.spec.strategy)
    combined = strategy.combined(data)
    if combined is None:
        return None
    params = plain(combined)
    known = strategy.candidates(data, DEFAULT_TOLERANCE).get("combine")
    if known is not None and known.get("val_metric") is not None:
        return known
    results = [
        train_model(task, task.make_config(params | {"seed": s}), splits, device).snapshot("ok")
        for s in seeds
    ]
    val = statistics.fmean(r.val_metric for r in results)
    seconds = statistics.fmean(r.train_time_s for r in results)
    return {
        "rule": "combine",
        "params": params,
        "val_metric": val,
        "train_time_s": seconds,
        "trainings": len(results),
        "explanation": f"combine: every factor at its best value, trained for the final "
        f"choice on {len(results)} seed(s): validation {val:.4f}.",
    }


def report_candidate(data: StudyData) -> dict[str, Any] | None:
    """For a preset study, the configuration the report chose (epochs scaled like the study's)."""
    changes = preset_final_choice(data.name)
    if changes is None:
        return None
    params = dict(data.defaults) | {
        key: data.spec.scale_epochs(value) if key == "epochs" else value
        for key, value in changes.items()}
    settings = ", ".join(f"{key}={value}" for key, value in changes.items())
    return {"rule": "report", "params": params, "val_metric": None, "train_time_s": None,
            "trainings": 0, "explanation": f"report: the configuration the report chose "
            f"(the default with {settings}), retrained here on the study's seeds."}


def pick(rule: str, candidates: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The candidate the rule chooses."""
    chosen = candidates.get(rule)
    if chosen is None or (chosen.get("val_metric") is None and rule != "report"):
        raise ConfigError(
            f"The final-choice rule {rule!r} has no measured candidate in this "
            f"study (available: {', '.join(candidates) or 'none'})."
        )
    return chosen


def evaluate_on_test(
    task: Task,
    params: dict[str, Any],
    splits: Splits,
    seeds: list[int],
    device: str,
    models_dir: Path,
    jobs: int | None = None,
) -> list[dict[str, Any]]:
    """Retrain `params` per seed (a process per core, see `retrain`), then load each saved
    model back and measure the test split, here and only here."""
    trained = retrain.retrain(retrain.Job(task, params, splits, device, models_dir), seeds, jobs)
    on_device = splits.to(device)
    memory_format = torch.channels_last if task.channels_last else torch.contiguous_format
    x_test = on_device.x_test.contiguous(memory_format=memory_format)
    runs = []
    for seed in seeds:
        cfg = task.make_config(params | {"seed": seed})
        model = task.build_model(cfg, on_device).to(device)
        model.load_state_dict(torch.load(retrain.model_path(models_dir, seed), weights_only=True,
                                         map_location=device))
        test_loss, test_metric, output = evaluate(task, cfg, model, x_test, on_device.y_test,
                                                  on_device)
        extra = task.extra_metrics(cfg, output, on_device.y_test, on_device)
        runs.append({"seed": seed, **trained[seed], "test_metric": test_metric,
                     "test_loss": test_loss, "test_extra": extra})
    return runs


def tested_on_seeds(task: Task, params: dict[str, Any], seeds: list[int],
                    data_dir: Path | None, device: str, models_dir: Path) -> dict[str, Any]:
    """`params` retrained on each of `seeds` and tested once (`evaluate_on_test`): the
    per-seed runs and their means."""
    splits = task.load_splits(task.make_config(params), data_dir)
    runs = evaluate_on_test(task, params, splits, seeds, device, models_dir)
    return {
        "params": params,
        "seeds": seeds,
        "val_metric": statistics.fmean(r["val_metric"] for r in runs),
        "train_metric": statistics.fmean(r["train_metric"] for r in runs),
        "test_metric": statistics.fmean(r["test_metric"] for r in runs),
        "test_metrics": [r["test_metric"] for r in runs],
        "runs": runs,
    }


def gather_candidates(data: StudyData, task: Task, rule: str, tolerance: float,
                      seeds: list[int], data_dir: Path | None, device: str
                      ) -> dict[str, dict[str, Any]]:
    """Every rule's candidate; the combination is trained only when it is the rule."""
    strategy = get_strategy(data.spec.strategy)
    candidates = strategy.candidates(data, tolerance)
    if rule == "combine" and strategy.combined(data) is not None:
        splits = task.load_splits(task.make_config(dict(data.defaults)), data_dir)
        combined = combine_candidate(data, task, splits, seeds, device)
        if combined is not None:
            candidates["combine"] = combined
    published = report_candidate(data)
    if published is not None:
        candidates["report"] = published
    return {key: value | {"params": plain(value["params"])} for key, value in candidates.items()}


def final_choice(
    store: Store,
    name: str,
    out_dir: Path,
    *,
    rule: str | None = None,
    tolerance: float | None = None,
    data_dir: Path | None = None,
    device: str = "cpu",
    final_now: bool = False,
    default_rule: str = "best",
    on_wait: Callable[[str], None] | None = None,
) -> dict[str, Any] | None:
    """The study's final choice and its one test evaluation: the stored one, or one made now.

    A new choice waits for the study to finish: while trainings remain (see `study_progress`)
    this returns None, unless `final_now`. `rule` and `tolerance` (None: the stored choice's,
    else `default_rule` and DEFAULT_TOLERANCE) must agree with a stored choice, whose test set
    is never evaluated again. One process makes a new choice: others that ask at the same
    time (on any machine) wait for it (`FinalClaim`), told why by `on_wait` (default: a
    logged warning).
    """
    data = read_study(store, name)
    if data.final is not None:
        return stored_choice(data, data.final, rule, tolerance, out_dir)
    asked_rule, asked_tolerance = rule, tolerance
    rule = default_rule if rule is None else rule
    if rule not in RULES:
        raise ConfigError(f"--rule must be one of {', '.join(RULES)}. Got {rule!r}.")
    progress = study_progress(data)
    if not progress.done and not final_now:
        return None
    if not any(r.finished for r in data.records):
        raise ConfigError(f"Study {name!r} has no finished training to choose from.")
    tolerance = DEFAULT_TOLERANCE if tolerance is None else tolerance
    with FinalClaim(store, name, on_wait or log.warning) as claim:
        if claim.stored is not None:  # made by another process meanwhile
            return stored_choice(data, claim.stored, asked_rule, asked_tolerance, out_dir)
        final = choose_and_test(data, rule, tolerance, data_dir, device, out_dir)
        final["made_at"] = datetime.now(UTC).isoformat(timespec="seconds")
        final["made_on"] = progress.to_dict()
        store.retry(lambda: store.load(name).set_user_attr("final", final))
    write_final_json(out_dir, final)
    return final


def stored_choice(data: StudyData, final: dict[str, Any], rule: str | None,
                  tolerance: float | None, out_dir: Path) -> dict[str, Any]:
    """The stored choice `final`, if it answers `rule` and `tolerance` (as asked: None takes
    the stored one's), also written to `final.json`."""
    data.final = final
    check_same_choice(data, rule, tolerance)
    write_final_json(out_dir, final)
    return final


def choose_and_test(data: StudyData, rule: str, tolerance: float, data_dir: Path | None,
                    device: str, out_dir: Path) -> dict[str, Any]:
    """Pick the rule's configuration, retrain it on the study's seeds and test it."""
    task = get_task(data.task)
    seeds = data.spec.final_seed_list
    candidates = gather_candidates(data, task, rule, tolerance, seeds, data_dir, device)
    chosen = pick(rule, candidates)
    return {
        "rule": rule,
        **tested_on_seeds(task, chosen["params"], seeds, data_dir, device, out_dir / "models"),
        "tolerance": tolerance,
        "explanation": chosen["explanation"],
        "candidates": list(candidates.values()),
    }


def check_same_choice(data: StudyData, rule: str | None, tolerance: float | None) -> None:
    """A stored choice answers only the rule (and, for `fast`, the tolerance) it was made
    with: asking for another would need a second test evaluation."""
    final = data.final or {}
    stored_rule, stored_tolerance = final.get("rule"), final.get("tolerance")
    other_rule = rule is not None and rule != stored_rule
    other_tolerance = (tolerance is not None and stored_rule == "fast"
                       and (rule or stored_rule) == "fast" and tolerance != stored_tolerance)
    if not (other_rule or other_tolerance):
        return
    asked = f"rule {rule or stored_rule!r}" + (f" with tolerance {tolerance:g}"
                                               if other_tolerance else "")
    raise ConfigError(
        f"Study {data.name!r} already has its final choice and its one test evaluation: "
        f"{describe_choice(final)}. {asked[0].upper()}{asked[1:]} would need a second look at "
        "the test set, so it is not evaluated (leave out --rule/--tolerance for the stored "
        "choice, or pass --no-final to write the report alone)."
    )


def write_final_json(out_dir: Path, final: dict[str, Any]) -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / "final.json"
    path.write_text(json.dumps(final, indent=1, default=str))
    return path
