"""`hpstudy train` and `hpstudy tasks`."""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from hpstudy import batched
from hpstudy.cli.common import (
    add_data_dir_option,
    add_device_options,
    add_task_module_option,
    check_data_dir,
    load_task,
    resolve_cuda,
    set_threads,
)
from hpstudy.config import Config, parse_overrides
from hpstudy.errors import ConfigError
from hpstudy.tasks import Splits, Task, list_tasks
from hpstudy.train import (
    DEFAULT_CHANCE_PATIENCE,
    EpochCallback,
    TrialResult,
    resolve_device,
    train,
)


def add_commands(commands: Any) -> None:
    parser = commands.add_parser("train", help="train one configuration of a task")
    parser.add_argument("task", help="task name (see `hpstudy tasks`)")
    parser.add_argument("--set", dest="overrides", action="append", default=[],
                        metavar="KEY=VALUE", help="override a hyperparameter (repeatable)")
    parser.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    parser.add_argument("--chance-patience", type=int, default=DEFAULT_CHANCE_PATIENCE,
                        help="stop as diverged after this many epochs at chance level (0: never)")
    add_data_dir_option(parser)
    add_device_options(parser)
    add_task_module_option(parser)
    parser.set_defaults(handler=run_train)

    tasks = commands.add_parser("tasks", help="list tasks with their hyperparameters")
    add_task_module_option(tasks)
    tasks.set_defaults(handler=run_tasks)


def run_train(args: argparse.Namespace) -> int:
    task = load_task(args, args.task)
    cfg = task.make_config(parse_overrides(args.overrides))
    data_dir = check_data_dir(args.data_dir)
    vectorizable = batched.group_key(task, cfg) is not None
    # a tiny MLP runs fastest on one thread; a lone CNN training uses every core
    set_threads(args.threads or (1 if vectorizable else os.cpu_count()))
    device = resolve_cuda(resolve_device(args.device))
    splits = task.load_splits(cfg, data_dir)
    if args.chance_patience < 0:
        raise ConfigError(f"--chance-patience must be an int >= 0. Got {args.chance_patience}.")
    if args.json:
        result = train_one(task, cfg, splits, device, args.chance_patience, vectorizable)
        print(json.dumps(result_json(task.name, result)))
        return 0
    console = Console(stderr=True)
    with Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), TextColumn("val {task.fields[val]}"),
                  console=console, transient=True) as progress:
        bar = progress.add_task(f"{task.name} epochs", total=cfg.epochs, val="-")

        def on_epoch(epoch: int, total: int, val_metric: float) -> None:
            progress.update(bar, completed=epoch, val=f"{val_metric:.4g}")

        result = train_one(task, cfg, splits, device, args.chance_patience, vectorizable,
                           on_epoch)
        progress.update(bar, completed=cfg.epochs)
    print_summary(task.name, task.metric_name, result)
    return 0


def train_one(task: Task, cfg: Config, splits: Splits, device: str, patience: int,
              vectorizable: bool, on_epoch: EpochCallback | None = None) -> TrialResult:
    """One training; an MLP goes through the vectorized trainer (a stack of one model),
    whose steps are several times cheaper than torch.optim's."""
    if vectorizable:
        return batched.train_group(task, [cfg], splits, device=device, chance_patience=patience)[0]
    return train(task, cfg, splits, device=device, chance_patience=patience, on_epoch=on_epoch)


def result_json(task_name: str, result: TrialResult) -> dict[str, Any]:
    """The documented `--json` object of one training."""
    return {
        "task": task_name,
        "params": result.params,
        "train_metric": result.train_metric,
        "val_metric": result.val_metric,
        "train_loss": result.train_loss,
        "val_loss": result.val_loss,
        "train_time_s": result.train_time_s,
        "epochs_run": result.epochs_run,
        "status": result.status,
        "reason": result.reason,
        "extra": result.extra,
    }


def print_summary(task_name: str, metric_name: str, result: TrialResult) -> None:
    console = Console()
    settings = " ".join(f"{key}={value}" for key, value in result.params.items())
    console.print(f"[bold]{task_name}[/bold] {settings}", highlight=False)
    table = Table(show_header=True, header_style="bold")
    for column in ("split", metric_name, "loss"):
        table.add_column(column, justify="right")
    table.add_row("train", f"{result.train_metric:.4f}", f"{result.train_loss:.4g}")
    table.add_row("validation", f"{result.val_metric:.4f}", f"{result.val_loss:.4g}")
    console.print(table)
    for name, value in result.extra.items():
        console.print(f"{name}: {value:,.2f}", highlight=False)
    console.print(f"status: {result.status}  epochs run: {result.epochs_run}  "
                  f"training time: {result.train_time_s:.2f} s", highlight=False)
    if result.reason:
        console.print(f"stopped early: {result.reason}", highlight=False)


def run_tasks(args: argparse.Namespace) -> int:
    console = Console()
    for task in list_tasks_after_import(args):
        table = Table(title=f"{task.name}: {task.description}", title_justify="left")
        for column in ("hyperparameter", "default", "allowed", "what it is"):
            table.add_column(column)
        for param in task.space:
            default = "unset" if param.default is None else str(param.default).lower() \
                if isinstance(param.default, bool) else str(param.default)
            rule = param.rule + (", log scale" if param.log else "")
            table.add_row(param.name, default, rule, param.help)
        console.print(table)
    sys.stdout.flush()
    return 0


def list_tasks_after_import(args: argparse.Namespace) -> list[Any]:
    from hpstudy.tasks import load_task_module

    for module in args.task_module:
        load_task_module(module)
    return list_tasks()
