"""Options and helpers shared by several commands."""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from hpstudy.errors import ConfigError
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


def check_data_dir(data_dir: Path | None) -> Path | None:
    if data_dir is not None and not data_dir.is_dir():
        raise ConfigError(f"The data directory {str(data_dir)!r} does not exist.")
    return data_dir


def set_threads(threads: int | None) -> None:
    """Torch threads for this process: one by default (small models run fastest that way and
    parallel studies use one process per core)."""
    threads = 1 if threads is None else threads
    if threads < 1:
        raise ConfigError(f"--threads must be an int >= 1. Got {threads}.")
    torch.set_num_threads(threads)


def resolve_cuda(device: str) -> str:
    if device == "cuda" and not torch.cuda.is_available():
        raise ConfigError("--device cuda was asked for, but torch sees no CUDA device.")
    return device

