"""`hpstudy report | reproduce | dashboard`."""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import optuna
from rich.console import Console

from hpstudy.cli.common import (
    add_data_dir_option,
    add_task_module_option,
    check_data_dir,
    set_threads,
)
from hpstudy.errors import ConfigError, HPStudyError
from hpstudy.report import FORMATS, read_reference_csv, write_report
from hpstudy.study.final import RULES, final_choice
from hpstudy.study.reader import read_study
from hpstudy.study.records import StudyData
from hpstudy.study.spec import preset_names, preset_path
from hpstudy.study.storage import Store, default_url
from hpstudy.tasks import load_task_module
from hpstudy.train import resolve_device

QUICK_EPOCH_SCALE = {"usps-seed": 0.1, "houses-seed": 0.2}
PRESETS = ("usps-seed", "houses-seed")


def add_commands(commands: Any) -> None:
    report = commands.add_parser("report", help="write the report of a study (and its final "
                                 "choice, evaluated once on the test set)")
    report.add_argument("dir", type=Path, help="the study's output directory")
    add_report_options(report)
    add_task_module_option(report)
    report.add_argument("--compare-to", type=Path, default=None, metavar="FILE.csv",
                        help="reference numbers (factor,value,train,val,time) shown beside")
    report.set_defaults(handler=run_report)

    reproduce = commands.add_parser("reproduce", help="run both report presets, their final "
                                    "choices and test evaluations, and write one report")
    reproduce.add_argument("--quick", action="store_true", help="fewer epochs (a few minutes)")
    reproduce.add_argument("--out", type=Path, default=Path("studies/reproduction"))
    reproduce.add_argument("--jobs", type=int, default=None, help="worker processes")
    add_report_options(reproduce, default_rule="report")
    reproduce.set_defaults(handler=run_reproduce)

    dashboard = commands.add_parser("dashboard", help="open the study in optuna-dashboard")
    dashboard.add_argument("dir", type=Path)
    dashboard.add_argument("--port", type=int, default=8080)
    dashboard.set_defaults(handler=run_dashboard)


def add_report_options(parser: argparse.ArgumentParser, default_rule: str = "best") -> None:
    parser.add_argument("--format", default=",".join(FORMATS),
                        help="comma-separated formats among md, html, tex, csv")
    parser.add_argument("--rule", choices=RULES, default=default_rule,
                        help=f"final-choice rule (default {default_rule}; report: the "
                        "configuration the report chose, for its presets)")
    parser.add_argument("--tolerance", type=float, default=0.01,
                        help="for --rule fast: relative distance to the best value allowed")
    parser.add_argument("--no-final", action="store_true",
                        help="skip the final choice and its test evaluation")
    add_data_dir_option(parser)


def formats_of(text: str) -> list[str]:
    chosen = [part.strip() for part in text.split(",") if part.strip()]
    unknown = [part for part in chosen if part not in FORMATS]
    if unknown or not chosen:
        raise ConfigError(f"--format must be a comma-separated list of {', '.join(FORMATS)}. "
                          f"Got {text!r}.")
    return chosen


def load_for_report(out_dir: Path, args: argparse.Namespace) -> StudyData:
    """Read a study, make its final choice unless told not to, attach reference numbers."""
    db = out_dir / "study.db"
    if not db.is_file():
        raise ConfigError(f"No study in {str(out_dir)!r} (no study.db there).")
    store = Store(default_url(out_dir))
    names = optuna.get_all_study_names(store.storage)
    if len(names) != 1:
        raise ConfigError(f"{str(db)!r} holds {len(names)} studies; expected one.")
    if not args.no_final:
        set_threads(None)
        final_choice(store, names[0], out_dir, rule=args.rule, tolerance=args.tolerance,
                     data_dir=check_data_dir(args.data_dir), device=resolve_device("auto"))
    data = read_study(store, names[0])
    compare = getattr(args, "compare_to", None)
    if compare is not None:
        data.reference = read_reference_csv(compare)
    elif data.name in preset_names():
        reference = preset_path(data.name).with_suffix(".reference.csv")
        if reference.is_file():
            data.reference = read_reference_csv(reference)
    return data


def run_report(args: argparse.Namespace) -> int:
    formats = formats_of(args.format)
    for module in args.task_module:
        load_task_module(module)
    data = load_for_report(args.dir, args)
    paths = write_report([data], args.dir, formats)
    print_written(paths, [data])
    return 0


def print_written(paths: list[Path], studies: list[StudyData]) -> None:
    console = Console()
    for data in studies:
        if data.final:
            console.print(f"{data.name}: final choice ({data.final['rule']}) test "
                          f"{data.metric_name} {data.final['test_metric']:.4f}, val "
                          f"{data.final['val_metric']:.4f}", highlight=False)
    for path in paths:
        if path.suffix in (".md", ".html", ".tex") and path.parent.name not in ("tables",):
            console.print(f"wrote {path}", highlight=False)


def run_reproduce(args: argparse.Namespace) -> int:
    from hpstudy.cli import main

    formats = formats_of(args.format)
    studies = []
    for name in PRESETS:
        out = args.out / name
        command = ["run", name, "--out", str(out)]
        if args.quick:
            command += ["--epoch-scale", str(QUICK_EPOCH_SCALE[name])]
        if args.jobs is not None:
            command += ["--jobs", str(args.jobs)]
        if args.data_dir is not None:
            command += ["--data-dir", str(args.data_dir)]
        if main(command) != 0:
            raise HPStudyError(f"The {name} study did not finish; run the command again to "
                               "resume it.")
        studies.append(load_for_report(out, args))
    paths = write_report(studies, args.out, formats)
    finals = {data.name: data.final for data in studies}
    (args.out / "final.json").write_text(json.dumps(finals, indent=1, default=str))
    print_written(paths, studies)
    return 0


def run_dashboard(args: argparse.Namespace) -> int:
    executable = shutil.which("optuna-dashboard")
    if executable is None:
        raise ConfigError("optuna-dashboard is not installed: pip install 'hpstudy[dashboard]'.")
    if not (args.dir / "study.db").is_file():
        raise ConfigError(f"No study in {str(args.dir)!r} (no study.db there).")
    return subprocess.call([executable, default_url(args.dir), "--port", str(args.port)])
