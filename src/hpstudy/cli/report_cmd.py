"""`hpstudy report | reproduce | dashboard`."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from rich.console import Console

from hpstudy import api
from hpstudy.api import require_database
from hpstudy.api_study import Study
from hpstudy.cli.common import add_data_dir_option, add_task_module_option
from hpstudy.cli.study_cmd import add_storage_option, open_target
from hpstudy.errors import ConfigError
from hpstudy.report import DEFAULT_TOLERANCE, FORMATS, write_report
from hpstudy.study.final import RULES
from hpstudy.study.progress import describe_choice, since_choice, study_progress
from hpstudy.study.records import StudyData
from hpstudy.study.storage import Store, default_url, redact
from hpstudy.study.strategies import get_strategy
from hpstudy.tasks import load_task_module


def add_commands(commands: Any) -> None:
    report = commands.add_parser("report", help="write the report of a study (and, once the "
                                 "study is finished, its final choice, evaluated once on the "
                                 "test set)")
    report.add_argument("dir", nargs="?", type=Path, help="a study's output directory (its "
                        "study.db); or give --storage URL and --study NAME")
    add_storage_option(report)
    report.add_argument("--study", default=None, help="the study's name (with --storage; "
                        "needed when the database holds several)")
    report.add_argument("--out", type=Path, default=None, help="where the report goes "
                        "(default: DIR, or ./studies/NAME with --storage)")
    add_report_options(report)
    add_task_module_option(report)
    report.add_argument("--compare-to", type=Path, default=None, metavar="FILE.csv",
                        help="reference numbers (factor,value,train,val,time) shown beside")
    report.set_defaults(handler=run_report)

    reproduce = commands.add_parser("reproduce", help="run both report presets, their final "
                                    "choices and test evaluations, and write one report")
    reproduce.add_argument("--quick", action="store_true", help="fewer epochs (a few minutes)")
    reproduce.add_argument("--beyond", action="store_true", help="also run the presets "
                           "usps-beyond and houses-beyond (final choice by the rule best, about "
                           "17 minutes in all on 2 cores), retrain the report's choice on their "
                           "seeds and open the report with the two side by side and a paired "
                           "test (--rule applies to the report's presets)")
    reproduce.add_argument("--out", type=Path, default=Path("studies/reproduction"))
    reproduce.add_argument("--jobs", type=int, default=None, help="worker processes")
    reproduce.add_argument("--quiet", action="store_true",
                           help="no progress on stderr (the results are still printed)")
    add_report_options(reproduce, default_rule="report")
    reproduce.set_defaults(handler=run_reproduce)

    dashboard = commands.add_parser("dashboard", help="open the study in optuna-dashboard")
    dashboard.add_argument("dir", nargs="?", type=Path, help="a study's output directory; or "
                           "give --storage URL")
    add_storage_option(dashboard)
    dashboard.add_argument("--host", default="127.0.0.1", help="address to serve on")
    dashboard.add_argument("--port", type=int, default=8080)
    dashboard.set_defaults(handler=run_dashboard)


def add_report_options(parser: argparse.ArgumentParser, default_rule: str = "best") -> None:
    parser.add_argument("--format", default=",".join(FORMATS),
                        help="comma-separated formats among md, html, tex, csv")
    parser.add_argument("--rule", choices=RULES, default=None,
                        help=f"final-choice rule (default: the stored choice's, else "
                        f"{default_rule}; report: the configuration the report chose, for its "
                        "presets); a study's choice is made once")
    parser.add_argument("--tolerance", type=float, default=None,
                        help=f"for --rule fast: relative distance to the best value allowed "
                        f"(default {DEFAULT_TOLERANCE})")
    parser.add_argument("--no-final", action="store_true",
                        help="skip the final choice and its test evaluation")
    parser.add_argument("--final-now", action="store_true",
                        help="make the final choice even though trainings remain (the report "
                        "says on how many it was made)")
    parser.set_defaults(default_rule=default_rule)
    add_data_dir_option(parser)


def formats_of(text: str) -> list[str]:
    chosen = [part.strip() for part in text.split(",") if part.strip()]
    unknown = [part for part in chosen if part not in FORMATS]
    if unknown or not chosen:
        raise ConfigError(f"--format must be a comma-separated list of {', '.join(FORMATS)}. "
                          f"Got {text!r}.")
    return chosen


def load_for_report(study: Study, args: argparse.Namespace) -> StudyData:
    """Read a study, make its final choice unless told not to (it waits for the study to
    finish unless --final-now), attach reference numbers."""
    return study.report_data(final=not args.no_final, rule=args.rule, tolerance=args.tolerance,
                             data_dir=args.data_dir, compare_to=getattr(args, "compare_to", None),
                             threads=1, final_now=args.final_now, default_rule=args.default_rule)


def report_target(args: argparse.Namespace) -> Study:
    """The study, its report going to --out, DIR or ./studies/NAME."""
    if args.storage and args.dir is not None:
        raise ConfigError("Give a study directory or --storage URL, not both (--out DIR says "
                          "where the report goes).")
    study = open_target(args)
    if args.out is not None:
        study.out = args.out
    return study


def run_report(args: argparse.Namespace) -> int:
    formats = formats_of(args.format)
    for module in args.task_module:
        load_task_module(module)
    study = report_target(args)
    try:
        data = load_for_report(study, args)
    finally:
        study.store.close()
    paths = write_report([data], study.out, formats)
    print_written(paths, [data])
    return 0


def print_written(paths: list[Path], studies: list[StudyData]) -> None:
    console = Console(soft_wrap=True)  # a line per fact, however wide the terminal
    for data in studies:
        for line in final_lines(data):
            console.print(f"{data.name}: {line}", highlight=False)
    for path in paths:
        if path.suffix in (".md", ".html", ".tex") and path.parent.name not in ("tables",):
            console.print(f"wrote {path}", highlight=False)


def final_lines(data: StudyData) -> list[str]:
    """What the final choice is, or why there is none yet."""
    progress = study_progress(data)
    final = data.final
    if final is None:
        if progress.done:
            return []
        return [f"{progress.describe()}; the final choice and its test evaluation wait for "
                "them (--final-now makes them now)"]
    lines = [f"final choice ({final['rule']}) test {data.metric_name} "
             f"{final['test_metric']:.4f}, val {final['val_metric']:.4f}; "
             f"{describe_choice(final)}"]
    tolerance = final.get("tolerance")
    since = since_choice(final, progress, get_strategy(data.spec.strategy).candidates(
        data, DEFAULT_TOLERANCE if tolerance is None else float(tolerance)))
    if since is not None:
        lines.append(f"{since.describe()} (see the report; the test set is not evaluated "
                     "again)")
    return lines


def run_reproduce(args: argparse.Namespace) -> int:
    studies, paths = api.reproduce(args.out, quick=args.quick, jobs=args.jobs,
                                   formats=formats_of(args.format), rule=args.rule,
                                   tolerance=args.tolerance, final=not args.no_final,
                                   final_now=args.final_now, data_dir=args.data_dir,
                                   progress=not args.quiet, beyond=args.beyond)
    print_written(paths, [study.data() for study in studies])
    return 0


def run_dashboard(args: argparse.Namespace) -> int:
    try:
        import optuna_dashboard
    except ImportError:
        raise ConfigError("optuna-dashboard is not installed: pip install "
                          "'hpstudy[dashboard]'.") from None
    if args.storage and args.dir is not None:
        raise ConfigError("Give a study directory or --storage URL, not both.")
    if not args.storage:
        if args.dir is None:
            raise ConfigError("Give a study directory, or --storage URL.")
        if not (args.dir / "study.db").is_file():
            raise ConfigError(f"No study in {str(args.dir)!r} (no study.db there).")
    require_database(args.storage or default_url(args.dir))
    store = Store(args.storage or default_url(args.dir))
    # In this process, so that the URL (and a password in it) is on no command line.
    Console(stderr=True).print(f"optuna-dashboard of {redact(store.url)} on "
                               f"http://{args.host}:{args.port}/ (Ctrl-C stops it)",
                               highlight=False)
    optuna_dashboard.run_server(store.storage, host=args.host, port=args.port)
    return 0
