"""`hpstudy presets | run | worker | status | trials`."""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from hpstudy.cli import listing
from hpstudy.cli.common import (
    add_data_dir_option,
    add_device_options,
    add_task_module_option,
    check_data_dir,
    load_task,
    resolve_cuda,
)
from hpstudy.errors import ConfigError
from hpstudy.study import runner
from hpstudy.study.reader import latest_attempts, read_study
from hpstudy.study.records import TrainingRecord
from hpstudy.study.spec import load_spec, preset_names
from hpstudy.study.storage import Store, default_url, redact, sqlite_path
from hpstudy.study.worker import WorkerOptions, run_worker
from hpstudy.train import DEFAULT_CHANCE_PATIENCE, resolve_device


def add_commands(commands: Any) -> None:
    presets = commands.add_parser("presets", help="list the built-in study presets")
    presets.set_defaults(handler=run_presets)

    run = commands.add_parser("run", help="run (or resume) a study")
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

    worker = commands.add_parser("worker", help="join a study stored in a shared database")
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


def worker_options(args: argparse.Namespace, url: str, name: str, deadline: float | None
                   ) -> WorkerOptions:
    threads = 1 if args.threads is None else args.threads
    if threads < 1:
        raise ConfigError(f"--threads must be an int >= 1. Got {threads}.")
    if args.chance_patience < 0:
        raise ConfigError(f"--chance-patience must be an int >= 0. Got {args.chance_patience}.")
    return WorkerOptions(url=url, study_name=name, device=resolve_cuda(resolve_device(args.device)),
                         threads=threads, data_dir=check_data_dir(args.data_dir),
                         chance_patience=args.chance_patience, deadline=deadline,
                         task_modules=list(args.task_module))


def run_presets(args: argparse.Namespace) -> int:
    console = Console()
    for name in preset_names():
        spec = load_spec(name)
        console.print(f"[bold]{name}[/bold]: {spec.description} "
                      f"(task {spec.task}, {spec.strategy})", highlight=False)
    return 0


def run_run(args: argparse.Namespace) -> int:
    spec = load_spec(args.spec).with_overrides(args.repeats, args.epoch_scale)
    if args.jobs < 1:
        raise ConfigError(f"--jobs must be an int >= 1. Got {args.jobs}.")
    task = load_task(args, spec.task)
    prepared = runner.prepare(spec, task, args.yes)
    deadline = time.time() + 60 * spec.max_minutes if spec.max_minutes else None
    out = args.out or Path("studies") / spec.name
    url = args.storage or default_url(out)
    options = worker_options(args, url, spec.name, deadline)
    task.load_splits(task.make_config(prepared.base), options.data_dir)  # fail early on data
    if args.storage is None:
        try:
            out.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ConfigError(f"Cannot create the output directory {str(out)!r}: "
                              f"{exc.strerror}.") from exc
    console = Console(stderr=True, quiet=args.quiet)
    console.print(f"study {spec.name}: {spec.strategy} on {task.name}, {prepared.total} "
                  f"trainings, {args.jobs} worker(s); storage {redact(url)}", highlight=False)
    store = Store(url)
    study = runner.create_or_resume(store, prepared)
    if args.quiet:
        runner.run(store, study, prepared.spec, options, args.jobs, None)
    else:
        with study_progress(console, task.direction) as show:
            runner.run(store, study, prepared.spec, options, args.jobs, show)
    summarize(console, read_study(store, spec.name).records, task.direction, task.metric_name)
    return 0


class study_progress:  # noqa: N801 - used as a context manager
    """A progress bar over trainings: done/total, elapsed, ETA and best so far."""

    def __init__(self, console: Console, direction: str):
        self.direction = direction
        self.progress = Progress(TextColumn("[bold]trainings"), BarColumn(), MofNCompleteColumn(),
                                 TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(),
                                 TextColumn("best {task.fields[best]}"), console=console)
        self.bar = self.progress.add_task("study", total=None, best="-")

    def __enter__(self) -> Any:
        self.progress.start()
        return self.show

    def __exit__(self, *exc: object) -> None:
        self.progress.stop()

    def show(self, records: list[TrainingRecord], _: int) -> None:
        current = latest_attempts(records)
        done = [r for r in current if r.finished or r.status == "failed"]
        best = listing.best(current, self.direction)
        self.progress.update(self.bar, total=len(current), completed=len(done),
                             best="-" if best is None else f"{best.val_metric:.4g}")


def summarize(console: Console, records: list[TrainingRecord], direction: str,
              metric_name: str) -> None:
    current = latest_attempts(records)
    console.print(listing.status_line(current), highlight=False)
    best = listing.best(current, direction)
    if best is not None:
        console.print(f"best val {metric_name}: {best.val_metric:.4f} with "
                      f"{listing.describe(best.params)} seed={best.seed}", highlight=False)


def run_worker_cmd(args: argparse.Namespace) -> int:
    require_database(args.storage)
    options = worker_options(args, args.storage, args.study, None)
    done = run_worker(options)
    Console(stderr=True).print(f"worker finished: {done} training(s) done", highlight=False)
    return 0


def require_database(url: str) -> None:
    """Commands that only read or join a study do not create a missing SQLite file."""
    path = sqlite_path(url)
    if path is not None and not path.is_file():
        raise ConfigError(f"No study database at {str(path)!r}.")


def open_target(args: argparse.Namespace) -> tuple[Store, str]:
    """The storage and study name given as DIR, or as --storage with --study."""
    if args.storage:
        url = args.storage
    elif args.dir is not None:
        if not (args.dir / "study.db").is_file():
            raise ConfigError(f"No study in {str(args.dir)!r} (no study.db there).")
        url = default_url(args.dir)
    else:
        raise ConfigError("Give a study directory, or --storage URL with --study NAME.")
    require_database(url)
    store = Store(url)
    names = store.retry(lambda: listing.study_names(store), locked=False)
    name = args.study or (names[0] if len(names) == 1 else None)
    if name is None:
        raise ConfigError(f"{redact(url)} holds {len(names)} studies; name one with --study "
                          f"({', '.join(names)}).")
    return store, name


def run_status(args: argparse.Namespace) -> int:
    store, name = open_target(args)
    data = read_study(store, name)
    console = Console()
    console.print(f"study {name} ({data.spec.get('strategy')} on {data.task})", highlight=False)
    summarize(console, data.records, data.direction, data.metric_name)
    return 0


def run_trials(args: argparse.Namespace) -> int:
    store, name = open_target(args)
    data = read_study(store, name)
    records = data.records if args.all else latest_attempts(data.records)
    rows = [listing.row(record) for record in records]
    if args.format == "json":
        print(json.dumps(rows, indent=1, default=str))
    else:
        print(listing.table(rows, args.format))
    return 0
