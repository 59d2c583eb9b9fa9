"""Benchmarks: hpstudy against textbook PyTorch (`bench/reference.py`), same configurations,
same machine, one invocation; each side runs as its own process, timed from start to exit, its
peak memory sampled with its children's (`bench/procs.py`).

    python bench/run.py [--quick] [--out bench/results.md]

(a) one training of each task's default configuration (and usps with epochs=5):
    `hpstudy train TASK --json` against `reference.py train TASK`, alternating, median of 3.
(b) the houses-seed study, 5 seeds, --epoch-scale 0.2: `hpstudy run` against every
    configuration x seed trained one after another (hpstudy before and after the reference).
(c) the usps-seed study, --epoch-scale 0.2, likewise.
(d) stacked step times of houses MLPs (`bench/steps.py`), in this process.
(e) the cost of USPS's random shifts per epoch (`bench/augment.py`), in this process.
(f) a search of 64 configurations at full epochs three ways: hpstudy without pruning, hpstudy
    with Hyperband, a plain Optuna script with HyperbandPruner (`bench/search.py`), five
    runs (`--search-runs`), run i with study seed i, per-run ratios and their medians quoted;
    on houses (5 to 15 minutes), or on USPS with
    `--usps` (hours on 2 cores). `--search` runs (f) alone and replaces its section of `--out`;
    `--tpe` searches with TPE instead of random draws; `--reduction-factor` sets both
    Hyperbands' reduction factor (3; another gets a section of its own).

`--quick` runs (a) without the 30-epoch usps default, a smaller (b) (2 seeds, --epoch-scale 0.1),
no (c) and a short (d). Results are printed and written as markdown to `--out`.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

import hpstudy

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(BENCH))
MEMORY_LIMIT_MB = 2048  # a study's peak memory must stay under 2 GB

import augment  # noqa: E402
import procs  # noqa: E402
import search  # noqa: E402
import steps  # noqa: E402


@dataclass
class Comparison:
    """Wall times (s) of both sides of one benchmark and what each reported."""

    name: str
    target: float | None  # the speed-up hpstudy should reach (None: the run is reduced)
    ours: list[float] = field(default_factory=list)
    reference: list[float] = field(default_factory=list)
    ours_train_s: list[float] = field(default_factory=list)
    reference_train_s: list[float] = field(default_factory=list)
    ours_peak_mb: list[float] = field(default_factory=list)
    reference_peak_mb: list[float] = field(default_factory=list)
    note: str = ""

    @property
    def ratio(self) -> float:
        return statistics.median(self.reference) / statistics.median(self.ours)

    def row(self) -> str:
        train = ""
        if self.ours_train_s and self.reference_train_s:
            train = (f"{statistics.median(self.reference_train_s):.2f} / "
                     f"{statistics.median(self.ours_train_s):.2f}")
        if self.target is None:
            goal = "none (reduced run)"
        else:
            goal = f">= {self.target:g}x: " + ("yes" if self.ratio >= self.target else "**no**")
        runs = f"{len(self.reference)}/{len(self.ours)}"
        return (f"| {self.name} | {runs} | {statistics.median(self.reference):.2f} | "
                f"{statistics.median(self.ours):.2f} | **{self.ratio:.2f}x** | "
                f"{goal} | {train} | {self.memory()} | {self.note} |")

    def memory(self) -> str:
        """Peak memory of each side (the largest run), and whether hpstudy stays under 2 GB."""
        if not self.ours_peak_mb or not self.reference_peak_mb:
            return "not measured"
        ours = max(self.ours_peak_mb)
        verdict = "yes" if ours < MEMORY_LIMIT_MB else "**no**"
        return (f"{max(self.reference_peak_mb):.0f} / {ours:.0f} "
                f"(< {MEMORY_LIMIT_MB / 1024:g} GB: {verdict})")


HEADER = ("| benchmark | runs ref/hpstudy | reference wall (s) | hpstudy wall (s) | speed-up | "
          "target | train loop s, ref / hpstudy | peak memory MB, ref / hpstudy | note |\n"
          "|---|---:|---:|---:|---:|---|---:|---:|---|")


def run_process(command: list[str], env: dict[str, str]) -> tuple[float, float | None,
                                                                 dict[str, Any]]:
    """Wall seconds and peak memory (MB) of one process with its children, and the JSON object
    on its last stdout line (if any)."""
    done = procs.run_measured(command, env, ROOT)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed ({done.returncode}): "
                           f"{done.stderr.strip()[-2000:]}")
    lines = done.stdout.strip().splitlines()
    found = json.loads(lines[-1]) if lines and lines[-1].startswith("{") else {}
    return done.wall_s, done.peak_mb, found


def record_peak(into: list[float], peak: float | None) -> None:
    if peak is not None:
        into.append(peak)


def hpstudy_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "hpstudy", *args]


def reference_command(*args: str) -> list[str]:
    return [sys.executable, str(BENCH / "reference.py"), *args]


def compare_training(task: str, overrides: list[str], target: float | None, repeats: int,
                     env: dict[str, str]) -> Comparison:
    """(a): one training, reference and hpstudy alternating."""
    sets = [arg for item in overrides for arg in ("--set", item)]
    label = f"train {task}" + "".join(f" {item}" for item in overrides)
    result = Comparison(label, target)
    for _ in range(repeats):
        wall, peak, out = run_process(reference_command("train", task, *sets), env)
        result.reference.append(wall)
        record_peak(result.reference_peak_mb, peak)
        result.reference_train_s.append(out["train_time_s"])
        wall, peak, out = run_process(hpstudy_command("train", task, *sets, "--json"), env)
        result.ours.append(wall)
        record_peak(result.ours_peak_mb, peak)
        result.ours_train_s.append(out["train_time_s"])
        print(f"  {label}: reference {result.reference[-1]:.2f} s, "
              f"hpstudy {result.ours[-1]:.2f} s", flush=True)
    return result


def study_available(env: dict[str, str]) -> bool:
    proc = subprocess.run(hpstudy_command("run", "--help"), capture_output=True, env=env,
                          cwd=ROOT, check=False)
    return proc.returncode == 0


def compare_study(name: str, repeats: int, scale: float, target: float | None, rounds: int,
                  env: dict[str, str]) -> Comparison:
    """(b), (c): a whole study; hpstudy runs before and after the reference when rounds > 1
    (it is short), so that both see similar machine load."""
    label = f"study {name} --repeats {repeats} --epoch-scale {scale:g}"
    result = Comparison(label, target)
    for round_ in range(rounds):
        with tempfile.TemporaryDirectory(prefix="hpstudy-bench-") as out:
            wall, peak, _ = run_process(hpstudy_command(
                "run", name, "--repeats", str(repeats), "--epoch-scale", str(scale),
                "--out", str(Path(out) / name), "--quiet"), env)
        result.ours.append(wall)
        record_peak(result.ours_peak_mb, peak)
        print(f"  {label}: hpstudy {wall:.1f} s", flush=True)
        if round_ == 0:
            wall, peak, found = run_process(reference_command(
                "study", name, "--repeats", str(repeats), "--epoch-scale", str(scale)), env)
            result.reference.append(wall)
            record_peak(result.reference_peak_mb, peak)
            result.reference_train_s.append(found["train_time_s"])
            result.note = f"{found['trainings']} trainings (list from {found['source']})"
            print(f"  {label}: reference {wall:.1f} s ({result.note})", flush=True)
    return result


def cpu_description() -> str:
    """The CPU's model name and widest vector instructions (oneDNN's kernels depend on them)."""
    try:
        lines = Path("/proc/cpuinfo").read_text().splitlines()
    except OSError:
        return platform.processor() or "?"
    field = {line.split(":", 1)[0].strip(): line.split(":", 1)[1].strip()
             for line in reversed(lines) if ":" in line}  # the first CPU's values
    flags = field.get("flags", "").split()
    isa = next((name for flag, name in (("avx512f", "AVX-512"), ("avx2", "AVX2"),
                                        ("avx", "AVX")) if flag in flags), "SSE")
    return f"{field.get('model name', platform.processor() or '?')}, {isa}"


def machine() -> list[str]:
    return [f"- date: {datetime.datetime.now().isoformat(timespec='seconds')}",
            f"- cpus: {os.cpu_count()} ({cpu_description()})",
            f"- platform: {platform.platform()}",
            f"- python {platform.python_version()}, torch {torch.__version__}, "
            f"hpstudy {hpstudy.__version__}",
            f"- torch threads: reference {torch.get_num_threads()} (torch default), "
            "hpstudy its defaults (1 per study worker; every core for a lone CNN training)"]


def cpu_seconds() -> tuple[float, float, float] | None:
    """(busy CPU seconds of the whole machine, hypervisor steal, this process and its finished
    children): busy minus ours is what other programs took during a benchmark (Linux only)."""
    try:
        stat = Path("/proc/stat").read_text()
    except OSError:
        return None
    tick = os.sysconf("SC_CLK_TCK")
    fields = [int(v) for v in stat.split("\n", 1)[0].split()[1:]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = fields[:8]
    ours = [resource.getrusage(who) for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)]
    return ((user + nice + system + irq + softirq) / tick, steal / tick,
            sum(u.ru_utime + u.ru_stime for u in ours))


def other_load_line(start: tuple[float, float, float] | None, seconds: float) -> str:
    """How much CPU time other programs (and the hypervisor) took while the benchmarks ran."""
    end = cpu_seconds()
    if start is None or end is None:
        return "- CPU time taken by other programs: not measured (no /proc/stat)"
    busy, steal, ours = (b - a for a, b in zip(start, end, strict=True))
    other = max(0.0, busy - ours)
    share = (other + steal) / (seconds * (os.cpu_count() or 1))
    warning = (" (busy: other work shared the CPUs; the reference, on torch's default threads, "
               "suffers most, so ratios are less reliable)") if share > 0.05 else ""
    return (f"- CPU time taken by other programs during the {seconds:.0f} s run: {other:.1f} s, "
            f"hypervisor steal {steal:.1f} s ({100 * share:.1f}% of the machine){warning}")


def main() -> int:
    parser = argparse.ArgumentParser(description="hpstudy against textbook PyTorch")
    parser.add_argument("--quick", action="store_true", help="a reduced run (about 2 minutes)")
    parser.add_argument("--out", type=Path, default=BENCH / "results.md")
    parser.add_argument("--search", action="store_true",
                        help="run only the search benchmark (f); replace its section of --out")
    parser.add_argument("--usps", action="store_true",
                        help="the search benchmark on USPS instead of houses (hours)")
    parser.add_argument("--tpe", action="store_true", help="search with TPE, not random")
    parser.add_argument("--search-runs", type=int, default=5,
                        help="runs of the search benchmark's three ways, run i with study "
                             "seed i (default 5)")
    parser.add_argument("--reduction-factor", type=int, default=3,
                        help="the search benchmark's Hyperband reduction factor, for hpstudy "
                             "and the plain Optuna script alike (default 3)")
    args = parser.parse_args()
    env = dict(os.environ)
    data = ROOT.parent / "shared" / "data"
    if "HPSTUDY_DATA_DIR" not in env and data.is_dir():
        env["HPSTUDY_DATA_DIR"] = str(data)
    started, usage = time.perf_counter(), cpu_seconds()
    info = machine()
    print("\n".join(info), flush=True)
    if args.search:
        lines = search_section(args, env)
        info.append(other_load_line(usage, time.perf_counter() - started))
        section = lines[:2] + info + [""] + lines[2:]
        old = args.out.read_text() if args.out.is_file() else "# hpstudy benchmarks\n"
        args.out.write_text(replace_section(old, section))
        print("\n".join(section))
        return 0
    comparisons, notes = [], []
    print("(a) single trainings", flush=True)
    cases = [("usps", ["epochs=5"], 1.3), ("houses", [], 1.0)]
    if not args.quick:
        cases.insert(1, ("usps", [], 1.0))
    for task, overrides, speed in cases:
        comparisons.append(compare_training(task, overrides, speed, 3, env))
    # the study targets are for the full runs; --quick runs a smaller houses study
    studies: list[tuple[str, int, float, float | None]] = [("houses-seed", 2, 0.1, None)] \
        if args.quick else [("houses-seed", 5, 0.2, 20.0), ("usps-seed", 1, 0.2, 3.0)]
    if study_available(env):
        print("(b), (c) whole studies", flush=True)
        for name, repeats, scale, target in studies:
            comparisons.append(compare_study(name, repeats, scale, target,
                                             1 if args.quick else 2, env))
    else:
        notes.append("(b), (c) skipped: `hpstudy run` is not available in this checkout.")
        print(notes[-1], flush=True)
    print("(d) stacked step times", flush=True)
    step_rows = steps.measure_steps([1, 5, 32] if args.quick else [1, 5, 32, 128],
                                    epochs=3, repeats=3 if args.quick else 5)
    solo_rows = steps.measure_solo_optimizers(epochs=3, repeats=3 if args.quick else 5)
    if env.get("HPSTUDY_DATA_DIR"):
        print("(e) random shifts", flush=True)
        os.environ["HPSTUDY_DATA_DIR"] = env["HPSTUDY_DATA_DIR"]
        shifts = augment.measure(epochs=3 if args.quick else 5, rounds=2 if args.quick else 3)
        notes.append(augment.format_row(shifts))
    else:
        notes.append("(e) skipped: no HPSTUDY_DATA_DIR with usps.h5.")
    searched = [] if args.quick else search_section(args, env)
    info.append(other_load_line(usage, time.perf_counter() - started))
    report = render(info, comparisons, notes, step_rows + solo_rows, args.quick)
    report += "\n".join(searched)
    args.out.write_text(report)
    print(report)
    return 0


def search_section(args: argparse.Namespace, env: dict[str, str]) -> list[str]:
    """(f): the search benchmark's markdown lines."""
    task, strategy = ("usps" if args.usps else "houses"), ("tpe" if args.tpe else "random")
    print(f"(f) search: {task}, {strategy}, 64 configurations", flush=True)
    rounds = search.run_search(task, strategy, 64, run_process, env, args.search_runs,
                               args.reduction_factor)
    return search.format_search(task, strategy, 64, rounds, args.reduction_factor)


def replace_section(text: str, section: list[str]) -> str:
    """`text` with the section titled `section[0]` (up to the next '## ') replaced by
    `section`, or with `section` appended. The whole title names a section: task, strategy
    and reduction factor each get their own."""
    lines = text.rstrip("\n").split("\n")
    start = next((i for i, line in enumerate(lines) if line == section[0]), None)
    if start is None:
        return "\n".join([*lines, "", *section]).rstrip("\n") + "\n"
    end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")),
               len(lines))
    return "\n".join([*lines[:start], *section, *lines[end:]]).rstrip("\n") + "\n"


def render(info: list[str], comparisons: list[Comparison], notes: list[str],
           step_rows: list[dict[str, Any]], quick: bool) -> str:
    lines = ["# hpstudy benchmarks" + (" (quick)" if quick else ""), "",
             "Written by `python bench/run.py" + (" --quick" if quick else "") + "`. Each side "
             "is a separate process timed from start to exit (imports and data loading "
             "included); speed-up = reference median / hpstudy median; peak memory = the "
             "largest summed PSS of a side's process and its children (a study's workers), "
             f"sampled every {procs.SAMPLE_S:g} s.", "", *info, "",
             HEADER, *(c.row() for c in comparisons), ""]
    lines += [f"- {note}" for note in notes] + ([""] if notes else [])
    lines += ["## Stacked houses MLPs (`bench/steps.py`, one thread)", "",
              "Default houses architecture (3x16, batch 32). Solo: `hpstudy.train.Trainer`; "
              "stacked: `hpstudy.batched.train_group` with K seeds, step time = the group's "
              "step wall time per optimizer step.", "",
              *steps.format_rows([r for r in step_rows if "models" in r]), "",
              "Solo trainer, default houses configuration: torch.optim's default optimizer "
              "against `hpstudy.updates.DirectOptimizer` (torch's fused kernels, called "
              "directly).", "",
              *steps.format_solo_rows([r for r in step_rows if "optimizer" in r]), ""]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
