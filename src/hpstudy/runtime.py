"""Process settings shared by the API and the command line: data directory, threads, device."""

from __future__ import annotations

from pathlib import Path

import torch

from hpstudy.errors import ConfigError


def check_data_dir(data_dir: Path | str | None) -> Path | None:
    if data_dir is not None and not Path(data_dir).is_dir():
        raise ConfigError(f"The data directory {str(data_dir)!r} does not exist.")
    return None if data_dir is None else Path(data_dir)


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
