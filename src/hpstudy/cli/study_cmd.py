"""`hpstudy presets | run | worker | status | trials`."""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import Any

from rich.console import Console

from hpstudy import api
from hpstudy.api_study import Study
from hpstudy.cli.common import add_data_dir_option, add_device_options, add_task_module_option
from hpstudy.errors import ConfigError
from hpstudy.study import listing
from hpstudy.study.spec import load_spec, preset_names
from hpstudy.train import DEFAULT_CHANCE_PATIENCE


def add_commands(commands: Any) -> None:
    presets = commands.add_parser("presets", help="list the built-in study presets")
    presets.set_defaults(handler=run_presets)

    run = commands.add_parser(
        "run", help="run (or resume) a study",
        epilog="Pruning: a study file's [pruning] table (pruner = median | successive_halving "
               "| hyperband) stops losing configurations early, judged on the mean over their "
               "seeds; see docs/pruning.md and examples/houses-hyperband.toml.")
    run.add_argument("spec", help="a preset name (see `hpstudy presets`) or a .toml study file")
    run.add_argument("--out", type=Path, default=None, help="output directory "
                     "(default ./studies/NAME); holds study.db unless --storage is given")
    add_storage_option(run)
    add_worker_options(run)
    run.add_argument("--jobs", type=int, default=os.cpu_count() or 1,
                     help="worker processes (default: the number of cores)")
    run.add_argument("--epoch-scale", type=float, default=None,
                     help="multiply every configuration's epochs (max(1, round(epochs * F)))")
    run.add_argument("--repeats", type=int, default=None, help="seeds per configuration")
    run.add_argument("--yes", action="store_true",
                     help="run a study of more than 1,000 trainings")
    run.add_argument("--quiet", action="store_true", help="print nothing but errors")
    run.set_defaults(handler=run_run)

    worker = commands.add_parser(
        "worker", help="join a study stored in a shared database",
        description="Join a study stored in a shared database and train from its queue until "
                    "it is empty. In a pruned random search, a worker takes half of the open "
                    "configurations at once and trains them side by side (docs/pruning.md).")
    add_storage_option(worker, required=True)
    worker.add_argument("--study", required=True, help="the study's name")
    add_worker_options(worker)
    worker.set_defaults(handler=run_worker_cmd)

    for name, handler, text in (("status", run_status, "counts by status and best so far"),
                                ("trials", run_trials, "list the study's trainings")):
        parser = commands.add_parser(name, help=text)
        parser.add_argument("dir", nargs="?", type=Path, help="a study's output directory")
        add_storage_option(parser)
        parser.add_argument("--study", default=None, help="the study's name (with --storage)")
        if name == "trials":
            parser.add_argument("--format", choices=("md", "csv", "json"), default="md")
            parser.add_argument("--all", action="store_true",
                                help="every attempt, including failed ones that were retried")
        parser.set_defaults(handler=handler)


def add_storage_option(parser: argparse.ArgumentParser, required: bool = False) -> None:
    parser.add_argument("--storage", required=required, default=None, metavar="URL",
                        help="database URL, e.g. postgresql://USER:PASS@HOST/DB")


def add_worker_options(parser: argparse.ArgumentParser) -> None:
    add_data_dir_option(parser)
    add_device_options(parser)
    add_task_module_option(parser)
    parser.add_argument("--chance-patience", type=int, default=DEFAULT_CHANCE_PATIENCE,
                        help="stop as diverged after this many epochs at chance level (0: never)")


def option_values(args: argparse.Namespace) -> dict[str, Any]:
    """The worker options given on the command line, as the API's keywords."""
    return {"device": args.device, "threads": args.threads, "data_dir": args.data_dir,
            "chance_patience": args.chance_patience, "task_modules": args.task_module}


def run_presets(args: argparse.Namespace) -> int:
    console = Console()
    for name in preset_names():
        spec = load_spec(name)
        console.print(f"[bold]{name}[/bold]: {spec.description} "
                      f"(task {spec.task}, {spec.strategy})", highlight=False)
    return 0


def run_run(args: argparse.Namespace) -> int:
    api.run(args.spec, out=args.out, storage=args.storage, jobs=args.jobs, repeats=args.repeats,
            epoch_scale=args.epoch_scale, progress=not args.quiet, confirm_large=args.yes,
            **option_values(args))
    return 0


def run_worker_cmd(args: argparse.Namespace) -> int:
    done = api.work(args.storage, args.study, **option_values(args))
    Console(stderr=True).print(f"worker finished: {done} training(s) done", highlight=False)
    return 0


def open_target(args: argparse.Namespace) -> Study:
    """The study given as DIR, or as --storage with --study."""
    if not args.storage and args.dir is None:
        raise ConfigError("Give a study directory, or --storage URL with --study NAME.")
    return api.open(args.storage or args.dir, args.study)


def run_status(args: argparse.Namespace) -> int:
    Console().print(str(open_target(args).status()), highlight=False)
    return 0


def run_trials(args: argparse.Namespace) -> int:
    rows = open_target(args).rows(all_attempts=args.all)
    if args.format == "json":
        print(json.dumps(rows, indent=1, default=str))
    else:
        print(listing.table(rows, args.format))
    return 0
