"""`hpstudy train` and `hpstudy tasks`."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from rich.console import Console
from rich.table import Table

from hpstudy.api_train import train_config
from hpstudy.cli.common import (
    add_data_dir_option,
    add_device_options,
    add_task_module_option,
    load_task,
)
from hpstudy.config import parse_overrides
from hpstudy.tasks import list_tasks
from hpstudy.train import DEFAULT_CHANCE_PATIENCE, TrialResult


def add_commands(commands: Any) -> None:
    parser = commands.add_parser("train", help="train one configuration of a task")
    parser.add_argument("task", help="task name (see `hpstudy tasks`)")
    parser.add_argument("--set", dest="overrides", action="append", default=[],
                        metavar="KEY=VALUE", help="override a hyperparameter (repeatable)")
    parser.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    parser.add_argument("--quiet", action="store_true",
                        help="no progress bar on stderr (the summary is still printed)")
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
    result = train_config(task, parse_overrides(args.overrides), data_dir=args.data_dir,
                          device=args.device, threads=args.threads,
                          chance_patience=args.chance_patience,
                          progress=not (args.json or args.quiet))
    if args.json:
        print(json.dumps(result_json(task.name, result)))
        return 0
    print_summary(task.name, task.metric_name, result)
    return 0


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
