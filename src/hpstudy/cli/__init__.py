"""The `hpstudy` command: the only place that prints results and sets exit codes."""

from __future__ import annotations

import argparse
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


def build_parser() -> argparse.ArgumentParser:
    from hpstudy.cli import report_cmd, study_cmd, train_cmd

    parser = OneLineParser(prog="hpstudy", description="Hyperparameter studies of PyTorch models.")
    parser.add_argument("--version", action="version", version=f"hpstudy {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks and debug logs")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=OneLineParser)
    for module in (train_cmd, study_cmd, report_cmd):
        module.add_commands(commands)
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
        args = build_parser().parse_args(args_list)
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


def one_line(text: str) -> str:
    """Collapse a message onto one line."""
    return " ".join(text.split())
