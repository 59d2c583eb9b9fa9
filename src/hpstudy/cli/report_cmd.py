"""`hpstudy report | reproduce | dashboard`."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from rich.console import Console

from hpstudy.cli.common import (
    add_data_dir_option,
    add_task_module_option,
    check_data_dir,
    set_threads,
)
from hpstudy.cli.study_cmd import add_storage_option, open_target, require_database
from hpstudy.errors import ConfigError, HPStudyError
from hpstudy.report import (
    DEFAULT_TOLERANCE,
    FORMATS,
    final_candidates,
    read_reference_csv,
    write_report,
)
from hpstudy.study.final import RULES, final_choice
from hpstudy.study.progress import describe_choice, since_choice, study_progress
from hpstudy.study.reader import read_study
from hpstudy.study.records import StudyData
from hpstudy.study.spec import preset_names, preset_path
from hpstudy.study.storage import Store, default_url, redact
from hpstudy.tasks import load_task_module
from hpstudy.train import resolve_device

QUICK_EPOCH_SCALE = {"usps-seed": 0.1, "houses-seed": 0.2}
PRESETS = ("usps-seed", "houses-seed")


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
    reproduce.add_argument("--out", type=Path, default=Path("studies/reproduction"))
    reproduce.add_argument("--jobs", type=int, default=None, help="worker processes")
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


def load_for_report(store: Store, name: str, out_dir: Path, args: argparse.Namespace
                    ) -> StudyData:
    """Read a study, make its final choice unless told not to (it waits for the study to
    finish unless --final-now), attach reference numbers."""
    if not args.no_final:
        set_threads(None)
        final_choice(store, name, out_dir, rule=args.rule, tolerance=args.tolerance,
                     data_dir=check_data_dir(args.data_dir), device=resolve_device("auto"),
                     final_now=args.final_now, default_rule=args.default_rule)
    data = read_study(store, name)
    compare = getattr(args, "compare_to", None)
    if compare is not None:
        data.reference = read_reference_csv(compare)
    elif data.name in preset_names():
        reference = preset_path(data.name).with_suffix(".reference.csv")
        if reference.is_file():
            data.reference = read_reference_csv(reference)
    return data


def report_target(args: argparse.Namespace) -> tuple[Store, str, Path]:
    """The storage, the study's name and the report's directory."""
    if args.storage and args.dir is not None:
        raise ConfigError("Give a study directory or --storage URL, not both (--out DIR says "
                          "where the report goes).")
    store, name = open_target(args)
    out = args.out or (args.dir if args.dir is not None else Path("studies") / name)
    return store, name, out


def run_report(args: argparse.Namespace) -> int:
    formats = formats_of(args.format)
    for module in args.task_module:
        load_task_module(module)
    store, name, out = report_target(args)
    try:
        data = load_for_report(store, name, out, args)
    finally:
        store.close()
    paths = write_report([data], out, formats)
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
    since = since_choice(final, progress, final_candidates(
        data, DEFAULT_TOLERANCE if tolerance is None else float(tolerance)))
    if since is not None:
        lines.append(f"{since.describe()} (see the report; the test set is not evaluated "
                     "again)")
    return lines


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
        store = Store(default_url(out))
        studies.append(load_for_report(store, name, out, args))
    paths = write_report(studies, args.out, formats)
    finals = {data.name: data.final for data in studies}
    (args.out / "final.json").write_text(json.dumps(finals, indent=1, default=str))
    print_written(paths, studies)
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
