"""(f) The search benchmark: one random (or TPE) search of 64 configurations at full epochs,
run three ways, several times over (each time with the next study seed: 0, 1, 2, ...), in one
invocation:

1. `hpstudy run` without pruning,
2. `hpstudy run` with `[pruning] pruner = "hyperband"`,
3. the same search as a plain Optuna script with `HyperbandPruner` (`bench/optuna_plain.py`);
   a random search trains the very configurations hpstudy drew in that run (enqueued in slot
   order), so that both Hyperbands prune the same 64 configurations and only the pruners and
   the trainers differ (a TPE search draws its own).

Each is a separate process timed from start to exit. The three ways of one run share its
study seed, and each run is compared with itself: the speed-ups and the gap between best values
are per run, then their medians. A run repeated with the same seed would measure only the
timer's noise; with a new seed it also measures how much the configurations a search happens to
draw (and, with pruning, which of them reach a rung first) move its best value.
Afterwards (untimed), each way's best configuration of the first run is retrained on seeds
0, 1, 2 with hpstudy's trainer and measured on the test split: its mean validation and test
values, and the spread over seeds that tells whether two best values differ by more than
noise.
"""

from __future__ import annotations

import json
import statistics
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hpstudy.study.final import evaluate_on_test
from hpstudy.study.pruning.rules import Hyperband
from hpstudy.study.reader import read_study
from hpstudy.study.selection import final_candidates
from hpstudy.study.storage import Store
from hpstudy.tasks import get_task
from hyperband_sync import Cost, sampled_trials, synchronous_hyperband, unpruned_curves
from search_space import SPACES, study_toml

BENCH = Path(__file__).resolve().parent
SEEDS = [0, 1, 2]  # the best configuration of each way is retrained on these
# acceptance: hyperband >= 3x faster than no pruning; >= 5x (houses) / 2.5x (usps) faster than
# the plain Optuna script; best value within 2% (houses MSE) / 0.3 points (usps accuracy)
TARGETS = {"houses": (3.0, 5.0), "usps": (3.0, 2.5)}
RunFn = Callable[[list[str], dict[str, str]], tuple[float, float | None, dict[str, Any]]]


@dataclass
class Way:
    """One of the three ways: its wall time, best configuration and what retraining it gives."""

    label: str
    wall_s: float
    best_val: float  # as the search found it
    params: dict[str, Any]
    counts: dict[str, int]
    epochs: int  # epochs trained, over all trainings
    step_s: float | None = None  # seconds in training steps, over all trainings (hpstudy only)
    retrained: list[dict[str, Any]] = field(default_factory=list)
    # the validation value of every configuration trained to its end (hpstudy), by `key`
    measured: dict[str, float] = field(default_factory=dict)
    # no pruning only: what a synchronous Hyperband costs on this search's curves
    synchronous: Cost | None = None

    def mean(self, key: str) -> float:
        return statistics.fmean(r[key] for r in self.retrained)

    def std(self, key: str) -> float:
        values = [r[key] for r in self.retrained]
        return statistics.stdev(values) if len(values) > 1 else 0.0


def hpstudy_way(label: str, task: str, strategy: str, n_trials: int, pruner: str, seed: int,
                run: RunFn, env: dict[str, str], folder: Path, reduction_factor: int = 3) -> Way:
    name = f"search-{task}-{pruner}"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.toml"
    path.write_text(study_toml(name, task, strategy, n_trials, pruner, seed, reduction_factor))
    out = folder / name
    wall, _, _ = run([sys.executable, "-m", "hpstudy", "run", str(path), "--out", str(out),
                      "--quiet"], env)
    store = Store(f"sqlite:///{out / 'study.db'}")
    try:
        data = read_study(store, name)
    finally:
        store.close()
    best = final_candidates(data)["best"]
    counts: dict[str, int] = {}
    for record in data.records:
        counts[record.status] = counts.get(record.status, 0) + 1
    epochs = sum(record.epochs_run or 0 for record in data.records)
    step_s = sum(record.train_time_s or 0.0 for record in data.records)
    measured = {key(task, record.params): float(record.val_metric) for record in data.records
                if record.finished and record.val_metric is not None}
    synchronous = None
    if pruner == "none":
        synchronous = synchronous_hyperband(
            unpruned_curves(out / "study.db", name),
            Hyperband(min_epochs=1, reduction_factor=reduction_factor),
            int(data.defaults["epochs"]), data.direction == "maximize")
    return Way(label, wall, float(best["val_metric"]), dict(best["params"]), counts, epochs,
               step_s, measured=measured, synchronous=synchronous)


def factors(task: str, params: dict[str, Any]) -> dict[str, Any]:
    """A configuration as the search space's factors (equal in all three ways)."""
    return {factor: params[factor] for factor in SPACES[task]}


def key(task: str, params: dict[str, Any]) -> str:
    return json.dumps(factors(task, params), sort_keys=True)


def as_hpstudy_trains(task: str, way: Way, unpruned: Way) -> float:
    """The validation value of `way`'s best configuration as hpstudy's unpruned study trained
    it (same configuration, seed and trainer), or the value `way` found where that study did
    not train it (a TPE search draws its own configurations)."""
    return unpruned.measured.get(key(task, way.params), way.best_val)


def drawn_configs(task: str, study_db: Path, name: str) -> list[dict[str, Any]]:
    """The configurations a random hpstudy study drew, in slot order, as the search space's
    factors (what the plain script enqueues)."""
    return [factors(task, attrs["params"]) for attrs in sampled_trials(study_db, name)
            if "params" in attrs]


def optuna_way(task: str, strategy: str, n_trials: int, seed: int, run: RunFn,
               env: dict[str, str], reduction_factor: int = 3,
               configs: Path | None = None) -> Way:
    enqueued = ["--configs", str(configs)] if configs is not None else []
    wall, _, found = run([sys.executable, str(BENCH / "optuna_plain.py"), task,
                          "--n-trials", str(n_trials), "--sampler", strategy,
                          "--pruner", "hyperband", "--reduction-factor", str(reduction_factor),
                          "--seed", str(seed), *enqueued], env)
    task_obj = get_task(task)
    params = task_obj.params_of(task_obj.make_config(found["best_params"]))
    params.pop("seed", None)
    return Way("plain Optuna + HyperbandPruner", wall, float(found["best_value"]), params,
               found["states"], found["epochs"])


def retrain(way: Way, task: str, folder: Path) -> None:
    """The best configuration retrained per seed and measured on the test split."""
    task_obj = get_task(task)
    splits = task_obj.load_splits(task_obj.make_config(way.params), None)
    way.retrained = evaluate_on_test(task_obj, way.params, splits, SEEDS, "cpu",
                                     folder / "models" / way.label.replace(" ", "_"))


def run_search(task: str, strategy: str, n_trials: int, run: RunFn,
               env: dict[str, str], runs: int = 5, reduction_factor: int = 3
               ) -> list[list[Way]]:
    """The three ways, one after another, `runs` times, run i with study seed i; then each
    way's best configuration of the first run retrained. Both Hyperbands prune from epoch 1
    with `reduction_factor`."""
    with tempfile.TemporaryDirectory(prefix="hpstudy-search-") as tmp:
        folder = Path(tmp)
        rounds = []
        for index in range(runs):
            ways = []
            for label, pruner in (("hpstudy, no pruning", "none"), ("hpstudy + hyperband",
                                                                    "hyperband")):
                ways.append(hpstudy_way(label, task, strategy, n_trials, pruner, index, run,
                                        env, folder / f"run{index}", reduction_factor))
                print(f"  run {index + 1} (seed {index}): {label}: {ways[-1].wall_s:.1f} s, "
                      f"best val {ways[-1].best_val:.4g}", flush=True)
            configs = None
            if strategy == "random":  # the same 64 configurations as hpstudy's
                configs = folder / f"run{index}" / "configs.json"
                name = f"search-{task}-none"
                drawn = drawn_configs(task, folder / f"run{index}" / name / "study.db", name)
                configs.write_text(json.dumps(drawn))
            ways.append(optuna_way(task, strategy, n_trials, index, run, env,
                                   reduction_factor, configs))
            print(f"  run {index + 1} (seed {index}): {ways[-1].label}: "
                  f"{ways[-1].wall_s:.1f} s, best val {ways[-1].best_val:.4g}", flush=True)
            rounds.append(ways)
        for way in rounds[0]:
            retrain(way, task, folder)
    return rounds


def format_search(task: str, strategy: str, n_trials: int, rounds: list[list[Way]],
                  reduction_factor: int = 3) -> list[str]:
    first = rounds[0]
    metric = get_task(task).metric_name
    runs = len(rounds)
    seeds = ", ".join(map(str, range(runs)))
    # the default's title stays as it was: `--search` replaces a section by its title
    factor = "" if reduction_factor == 3 else f", reduction factor {reduction_factor}"
    lines = [f"## Search with pruning: {task}, {strategy}, {n_trials} configurations, full "
             f"epochs{factor} (`bench/search.py`)", "",
             f"Both Hyperbands (hpstudy's and Optuna's `HyperbandPruner`) prune from epoch 1 "
             f"with reduction factor {reduction_factor}.",
             *([] if strategy != "random" else [
                 "All three ways of a run train the same 64 configurations: the plain Optuna "
                 "script enqueues the ones hpstudy drew (in slot order), and trains each with "
                 "the task's model, loss and augmentation, as hpstudy does. Its loop draws "
                 "other shuffles (and shifts) than hpstudy's trainer, so one configuration "
                 "scores differently there, by about a seed's spread: the value gap to the "
                 "plain script is judged on its best configuration as hpstudy's unpruned study "
                 "trained it (the same configuration, seed and trainer as hpstudy + "
                 "hyperband's values), and shown on its own value too."]),
             f"Three ways, {runs} run{'s' if runs > 1 else ''} in one invocation, run i with "
             f"study seed i ({seeds}): "
             "no pruning, Hyperband, plain Optuna, then the next run. Each way is a separate "
             "process timed from start to exit (hpstudy with its default workers, one per core; "
             "the plain Optuna script in one process on torch's default threads). Wall = the "
             "median of the runs, each run in brackets. Best val = the best value the search "
             f"found ({metric}), median and per run. Speed-ups and gaps are taken per run (the "
             "three ways of a run search with the same seed), then their median. Retrained = "
             "the first run's best configuration trained again on seeds "
             f"{', '.join(map(str, SEEDS))} (mean ± std), with its test value. Epochs = "
             "the epochs trained over all 64 configurations (median, per run), and wall per "
             "epoch = wall time / epochs (median of the runs' ratios).", "",
             "| way | wall (s) | epochs trained | wall per epoch (ms) | trainings by status "
             "(first run) | best val found | retrained val | retrained test | best "
             "configuration (first run) |",
             "|---|---:|---:|---:|---|---:|---:|---:|---|"]
    for column, way in enumerate(first):
        wall = [ways[column].wall_s for ways in rounds]
        best = [ways[column].best_val for ways in rounds]
        epochs = [float(ways[column].epochs) for ways in rounds]
        per_epoch = [1000 * ways[column].wall_s / max(1, ways[column].epochs) for ways in rounds]
        counts = ", ".join(f"{n} {s}" for s, n in sorted(way.counts.items()))
        config = " ".join(f"{k}={_short(way.params.get(k))}"
                          for k in ("lr", "width", "batch_size", "layers", "dropout",
                                    "batch_norm", "augment_shift") if k in way.params)
        lines.append(f"| {way.label} | {statistics.median(wall):.1f} [{_each(wall, '.1f')}] | "
                     f"{statistics.median(epochs):.0f} [{_each(epochs, '.0f')}] | "
                     f"{statistics.median(per_epoch):.1f} [{_each(per_epoch, '.1f')}] | "
                     f"{counts} | {statistics.median(best):.4f} [{_each(best, '.4f')}] | "
                     f"{way.mean('val_metric'):.4f} ± {way.std('val_metric'):.4f} | "
                     f"{way.mean('test_metric'):.4f} ± {way.std('test_metric'):.4f} | "
                     f"{config} |")
    faster, than_plain = TARGETS[task]
    per_run = [ways[0].wall_s / ways[1].wall_s for ways in rounds]
    per_run_plain = [ways[2].wall_s / ways[1].wall_s for ways in rounds]
    speed, versus = statistics.median(per_run), statistics.median(per_run_plain)
    gaps = [gap(task, ways[1].best_val, ways[0].best_val) for ways in rounds]
    close = [within_target(task, behind) for behind in gaps]
    noise = max(w.std("val_metric") for w in first)
    paired = [as_hpstudy_trains(task, ways[2], ways[0]) for ways in rounds]
    level = [_within_noise(task, ways[1].best_val, value, noise)
             for ways, value in zip(rounds, paired, strict=True)]
    own_level = [_within_noise(task, ways[1].best_val, ways[2].best_val, noise)
                 for ways in rounds]
    fewer = [ways[2].epochs / max(1, ways[1].epochs) for ways in rounds]
    fewer_than_none = [ways[0].epochs / max(1, ways[1].epochs) for ways in rounds]
    steps_ratio = [(ways[0].step_s or 0.0) / max(1e-9, ways[1].step_s or 0.0) for ways in rounds]
    slower = [(ways[2].wall_s / max(1, ways[2].epochs)) / (ways[1].wall_s / max(1, ways[1].epochs))
              for ways in rounds]
    unit = "%" if task == "houses" else " points"
    lines += ["",
              f"- hyperband vs no pruning: **{speed:.2f}x** less wall time, median of the runs "
              f"(per run: {_each(per_run, '.2f')}; target >= {faster:g}x: "
              f"{_yes(speed >= faster)}); best val behind the unpruned run's by "
              f"{statistics.median(gaps):+.2f}{unit}, median (per run: {_each(gaps, '+.2f')}; "
              f"within {'2%' if task == 'houses' else '0.3 points'} in {sum(close)} of {runs} "
              f"runs; median within: {_yes(within_target(task, statistics.median(gaps)))})",
              f"- hyperband vs plain Optuna + HyperbandPruner: **{versus:.2f}x** faster, median "
              f"of the runs (per run: {_each(per_run_plain, '.2f')}; target >= {than_plain:g}x: "
              f"{_yes(versus >= than_plain)}); best val equal or better within noise in "
              f"{sum(level)} of {runs} runs ({_yes(2 * sum(level) > runs)}), the plain "
              "script's best configuration valued as hpstudy's unpruned study trained it "
              f"(per run: {_each(paired, '.4f')}, against hpstudy + hyperband's "
              f"{_each([ways[1].best_val for ways in rounds], '.4f')}); on the value the plain "
              f"script measured itself, {sum(own_level)} of {runs} runs; noise = the largest "
              f"seed-to-seed std of a retrained best configuration, {noise:.4f}",
              f"- where that lead comes from (medians of the per-run ratios): plain Optuna "
              f"trained {statistics.median(fewer):.2f}x the epochs hpstudy + hyperband "
              f"trained, and took {statistics.median(slower):.2f}x its wall time per epoch",
              f"- what pruning alone can give (medians of the per-run ratios, no pruning / "
              f"hyperband): {statistics.median(fewer_than_none):.2f}x the epochs (per run: "
              f"{_each(fewer_than_none, '.2f')}), {statistics.median(steps_ratio):.2f}x the "
              f"seconds spent in training steps, summed over all trainings (per run: "
              f"{_each(steps_ratio, '.2f')}); the wall-time ratio equals the second when "
              "everything else (start-up, evaluation, storage, idle cores) takes the same share "
              "of both ways' time",
              *synchronous_lines(rounds),
              ""]
    return lines


def synchronous_lines(rounds: list[list[Way]]) -> list[str]:
    """Li et al.'s synchronous Hyperband on each run's unpruned curves
    (`bench/hyperband_sync.py`), against no pruning and against hpstudy + hyperband."""
    costs = [ways[0].synchronous for ways in rounds if ways[0].synchronous is not None]
    if len(costs) < len(rounds):
        return []
    epochs = [float(cost.epochs) for cost in costs]
    fewer = [ways[0].epochs / max(1, cost.epochs)
             for ways, cost in zip(rounds, costs, strict=True)]
    cheaper = [(ways[0].step_s or 0.0) / max(1e-9, cost.step_s)
               for ways, cost in zip(rounds, costs, strict=True)]
    spent = [(ways[1].step_s or 0.0) / max(1e-9, cost.step_s)
             for ways, cost in zip(rounds, costs, strict=True)]
    return [f"- the same brackets and rule run synchronously on each run's unpruned curves "
            f"(every configuration of a bracket judged together at each rung, as one worker "
            f"does; `bench/hyperband_sync.py`): {statistics.median(epochs):.0f} epochs "
            f"[{_each(epochs, '.0f')}], {statistics.median(fewer):.2f}x fewer than no pruning "
            f"(per run: {_each(fewer, '.2f')}), {statistics.median(cheaper):.2f}x fewer "
            f"training-step seconds (per run: {_each(cheaper, '.2f')}); hpstudy + hyperband "
            f"spent {statistics.median(spent):.2f}x those seconds (per run: "
            f"{_each(spent, '.2f')})"]


def gap(task: str, value: float, reference: float) -> float:
    """How far `value` is behind `reference`: percent of an MSE (houses), points of an
    accuracy (usps); negative when it is better."""
    if task == "houses":
        return 100 * (value / reference - 1)
    return reference - value


def within_target(task: str, behind: float) -> bool:
    """Within 2% of an MSE (houses) or 0.3 points of an accuracy (usps); better counts too."""
    return behind <= (2.0 if task == "houses" else 0.3)


def _each(values: list[float], spec: str) -> str:
    return ", ".join(format(value, spec) for value in values)


def _within_noise(task: str, ours: float, theirs: float, noise: float) -> bool:
    if task == "houses":
        return ours <= theirs + noise
    return ours >= theirs - noise


def _yes(ok: bool) -> str:
    return "yes" if ok else "**no**"


def _short(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.3g}"
    return str(value)
