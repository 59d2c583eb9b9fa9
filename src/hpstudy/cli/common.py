"""Options and helpers shared by several commands."""

from __future__ import annotations

import argparse
from pathlib import Path

from hpstudy.runtime import check_data_dir as check_data_dir  # re-exported for the commands
from hpstudy.runtime import resolve_cuda as resolve_cuda
from hpstudy.runtime import set_threads as set_threads
from hpstudy.tasks import Task, get_task, load_task_module


def add_task_module_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--task-module",
        action="append",
        default=[],
        metavar="MODULE",
        help="import a task of your own: a dotted module or a .py path exposing `task`",
    )


def add_data_dir_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=None,
        help="directory holding the data sets (default: $HPSTUDY_DATA_DIR or the cache)",
    )


def add_device_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto",
                        help="where to train (auto: CUDA when present)")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch threads per process "
                        "(default 1; `hpstudy train` of a CNN: every core)")


def load_task(args: argparse.Namespace, name: str) -> Task:
    """Import any --task-module, then look up the task `name`."""
    for module in getattr(args, "task_module", []):
        load_task_module(module)
    return get_task(name)
