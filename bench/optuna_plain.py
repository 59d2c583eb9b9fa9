"""The search benchmark's plain Optuna side: the same search written as an Optuna user would.

A textbook objective: suggest the hyperparameters, build the model, train with a `DataLoader`
and `torch.optim`, evaluate on the validation split after every epoch, `trial.report` the
value and raise `optuna.TrialPruned` when `trial.should_prune()` says so; one process, an
in-memory study named after the task, pruner and seed, `HyperbandPruner` (or none), torch's
default number of threads. Only the data splits, the model, the loss and the augmentation (a
random shift of each batch, drawn from a generator seeded by the configuration's seed) are
the task's own (as in `bench/reference.py`), so both sides search the same space on the same
data and train each configuration alike.

`--configs FILE` (a JSON list of parameter dicts) enqueues those configurations in order
(`study.enqueue_trial`), so that a random search trains exactly the configurations another
search drew; the sampler then only fills trials beyond the list.

    python bench/optuna_plain.py TASK [--n-trials 64] [--sampler random|tpe]
                                 [--pruner hyperband|none] [--reduction-factor 3] [--seed 0]
                                 [--configs FILE]

Prints one JSON object: wall time, best value and parameters, trials by state, and the epochs
trained over all trials.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import optuna
import torch
from torch.utils.data import DataLoader, TensorDataset

sys.path.insert(0, str(Path(__file__).resolve().parent))

from hpstudy.tasks import get_task  # noqa: E402
from search_space import SPACES, suggest  # noqa: E402


def make_objective(task_name: str):
    task = get_task(task_name)
    splits = task.load_splits(task.default_config(), None)
    maximize = task.direction == "maximize"

    def objective(trial: optuna.Trial) -> float:
        cfg = task.make_config(suggest(trial, SPACES[task_name]))
        torch.manual_seed(cfg.seed)
        model = task.build_model(cfg, splits)
        optimizer = torch.optim.Adam(model.parameters(), lr=cfg.lr)
        loader = DataLoader(TensorDataset(splits.x_train, splits.y_train),
                            batch_size=cfg.batch_size, shuffle=True)
        shifts = torch.Generator().manual_seed(cfg.seed)
        value = float("nan")
        for epoch in range(1, cfg.epochs + 1):
            model.train()
            for x, y in loader:
                x = task.augment(cfg, x, shifts)
                optimizer.zero_grad()
                loss = task.loss(cfg, model(x), y)
                loss.backward()
                optimizer.step()
            model.eval()
            with torch.no_grad():
                value = task.metric(cfg, model(splits.x_val), splits.y_val, splits)
            trial.report(value, epoch)
            if trial.should_prune():
                raise optuna.TrialPruned()
        return value

    return objective, maximize


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("task", choices=sorted(SPACES))
    parser.add_argument("--n-trials", type=int, default=64)
    parser.add_argument("--sampler", choices=["random", "tpe"], default="random")
    parser.add_argument("--pruner", choices=["hyperband", "none"], default="hyperband")
    parser.add_argument("--reduction-factor", type=int, default=3,
                        help="HyperbandPruner's reduction_factor (default 3)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--configs", type=Path,
                        help="a JSON list of parameter dicts to enqueue, in order")
    args = parser.parse_args()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    started = time.perf_counter()
    objective, maximize = make_objective(args.task)
    sampler = (optuna.samplers.TPESampler(seed=args.seed) if args.sampler == "tpe"
               else optuna.samplers.RandomSampler(seed=args.seed))
    pruner = (optuna.pruners.HyperbandPruner(min_resource=1,
                                                     reduction_factor=args.reduction_factor)
              if args.pruner == "hyperband" else optuna.pruners.NopPruner())
    # named, as Optuna's HyperbandPruner asks "to make the pruning algorithm reproducible":
    # a trial's bracket is a hash of the study name and its number (an unnamed study gets a
    # random name, and the same seed then prunes differently from one run to the next)
    study = optuna.create_study(study_name=f"search-{args.task}-{args.pruner}-{args.seed}",
                                direction="maximize" if maximize else "minimize",
                                sampler=sampler, pruner=pruner)
    for params in json.loads(args.configs.read_text()) if args.configs else []:
        study.enqueue_trial(params)
    study.optimize(objective, n_trials=args.n_trials)
    states: dict[str, int] = {}
    for trial in study.trials:
        states[trial.state.name.lower()] = states.get(trial.state.name.lower(), 0) + 1
    print(json.dumps({"wall_s": time.perf_counter() - started, "best_value": study.best_value,
                      "best_params": study.best_params, "states": states,
                      "epochs": sum(len(t.intermediate_values) for t in study.trials)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
