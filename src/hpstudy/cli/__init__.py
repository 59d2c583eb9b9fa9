"""The `hpstudy` command: the only place that prints results and sets exit codes."""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
from collections.abc import Sequence

from hpstudy import __version__
from hpstudy.errors import ConfigError, HPStudyError

USAGE_ERROR = 2


class OneLineParser(argparse.ArgumentParser):
    """An argument parser whose errors are one line and exit code 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise ConfigError(f"{self.prog}: {message}")


# Which module defines each command: only the one asked for is imported, so that a quick
# command does not pay for the imports of the others (plotting, databases).
COMMAND_MODULES = {
    "train": "train_cmd", "tasks": "train_cmd",
    "presets": "study_cmd", "run": "study_cmd", "worker": "study_cmd",
    "status": "study_cmd", "trials": "study_cmd",
    "report": "report_cmd", "reproduce": "report_cmd", "dashboard": "report_cmd",
}


def build_parser(argv: Sequence[str] = ()) -> argparse.ArgumentParser:
    """The argument parser; with `argv`, only the asked-for command's module is loaded."""
    parser = OneLineParser(prog="hpstudy", description="Hyperparameter studies of PyTorch models.")
    parser.add_argument("--version", action="version", version=f"hpstudy {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks and debug logs")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=OneLineParser)
    asked = next((arg for arg in argv if not arg.startswith("-")), None)
    needed = [COMMAND_MODULES[asked]] if asked in COMMAND_MODULES else \
        list(dict.fromkeys(COMMAND_MODULES.values()))
    for name in needed:
        importlib.import_module(f"hpstudy.cli.{name}").add_commands(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code."""
    args_list = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in args_list
    logging.basicConfig(
        level=logging.DEBUG if debug else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    try:
        args = build_parser(args_list).parse_args(args_list)
        code: int = args.handler(args)
        return code
    except HPStudyError as exc:
        if debug:
            raise
        print(f"error: {one_line(str(exc))}", file=sys.stderr)
        return USAGE_ERROR
    except BrokenPipeError:  # output piped into a program that stopped reading (e.g. head)
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except KeyboardInterrupt:
        print("interrupted: finished trainings are stored; run the command again to resume.",
              file=sys.stderr)
        return 130


def run() -> None:
    """The console script: `main`, then exit at once. Everything is written and closed by
    then; tearing down torch's and SQLAlchemy's modules would only add about half a second."""
    code = main()
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except BrokenPipeError:
        pass
    logging.shutdown()
    os._exit(code)


def one_line(text: str) -> str:
    """Collapse a message onto one line."""
    return " ".join(text.split())
