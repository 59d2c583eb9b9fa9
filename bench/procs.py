"""Run a benchmark process and measure its wall time and peak memory.

Peak memory is the largest sum, over the process and all its descendants (a study's worker
processes), of their proportional set size (PSS: each shared page counted once, split among
the processes that share it), sampled every `SAMPLE_S` seconds from /proc. Where /proc has no
`smaps_rollup` (not Linux), memory is not measured.
"""

from __future__ import annotations

import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

SAMPLE_S = 0.5  # a sample costs a few ms of CPU: about 1% of one core
PROC = Path("/proc")


@dataclass
class Finished:
    """What one benchmark process did."""

    returncode: int
    wall_s: float
    peak_mb: float | None  # None: not measured here
    stdout: str
    stderr: str


def children_by_parent() -> dict[int, list[int]]:
    """Each running process id's children, from one pass over /proc."""
    children: dict[int, list[int]] = {}
    for stat in PROC.glob("[0-9]*/stat"):
        try:
            # "pid (comm) state ppid ...": comm may hold spaces and parentheses
            ppid = int(stat.read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(stat.parent.name))
    return children


def tree_pss_kb(pid: int) -> int | None:
    """The summed PSS (kB) of `pid` and its descendants, or None where it cannot be read."""
    children = children_by_parent()
    total, pending, seen = 0, [pid], False
    while pending:
        current = pending.pop()
        pending += children.get(current, [])
        try:
            rollup = (PROC / str(current) / "smaps_rollup").read_text()
        except OSError:  # gone meanwhile, or no smaps_rollup on this system
            continue
        seen = True
        total += next((int(line.split()[1]) for line in rollup.splitlines()
                       if line.startswith("Pss:")), 0)
    return total if seen else None


def run_measured(command: list[str], env: dict[str, str], cwd: Path) -> Finished:
    """Run `command` to its end, sampling the memory of its process tree meanwhile."""
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        started = time.perf_counter()
        proc = subprocess.Popen(command, stdout=out, stderr=err, text=True, env=env, cwd=cwd)
        peak: int | None = None
        while True:
            try:
                proc.wait(timeout=SAMPLE_S)
                break
            except subprocess.TimeoutExpired:
                sample = tree_pss_kb(proc.pid)
                if sample is not None:
                    peak = max(peak or 0, sample)
        wall = time.perf_counter() - started
        out.seek(0)
        err.seek(0)
        return Finished(proc.returncode, wall, None if peak is None else peak / 1024,
                        out.read(), err.read())
