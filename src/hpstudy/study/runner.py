"""Run a study: create or resume it, queue its trainings, start workers, follow progress.

`prepare` validates everything before it writes anything; `run` starts `jobs` worker
processes (one torch thread each unless told otherwise), shows progress from the database and
queues each next round the strategy proposes (coordinate studies).
"""

from __future__ import annotations

import functools
import multiprocessing
import multiprocessing.connection
import signal
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import optuna

from hpstudy import __version__
from hpstudy.errors import ConfigError, HPStudyError
from hpstudy.study import queue
from hpstudy.study.plans import GRID_CONFIRM_ABOVE, Planned, baseline
from hpstudy.study.reader import read_records
from hpstudy.study.records import TrainingRecord
from hpstudy.study.siblings import Siblings
from hpstudy.study.spec import StudySpec, validate_for_task
from hpstudy.study.storage import Store, redact
from hpstudy.study.strategies import get_strategy
from hpstudy.study.worker import WorkerOptions, run_worker
from hpstudy.tasks import Task

ProgressFn = Callable[[list[TrainingRecord], int], None]
POLL_S = 1.0  # how often progress is read from the database
INTERRUPTED = 130  # exit code of a worker process stopped by a signal


@dataclass
class Prepared:
    """A validated study ready to be written: its spec, task, baseline and first trainings."""

    spec: StudySpec
    task: Task
    base: dict[str, Any]
    planned: list[Planned]
    total: int  # trainings expected (for progress; coordinate studies may add rounds)


def prepare(spec: StudySpec, task: Task, confirm_large: bool) -> Prepared:
    """Validate `spec` against `task` and list its trainings; writes nothing."""
    spec = validate_for_task(spec, task)
    task_defaults = task.params_of(task.default_config())
    base = baseline(spec, task_defaults)
    task.make_config(base)  # the baseline must be a valid configuration
    strategy = get_strategy(spec.strategy)
    size = strategy.size(spec, task_defaults)  # counted without listing: repeats may be huge
    if size > GRID_CONFIRM_ABOVE and not confirm_large:
        raise ConfigError(f"The {spec.strategy} study {spec.name!r} is {size:,} trainings "
                          f"(more than {GRID_CONFIRM_ABOVE:,}); pass --yes to run it.")
    planned = strategy.plan(spec, task_defaults)
    return Prepared(spec, task, base, planned, size)


def study_attrs(prepared: Prepared) -> dict[str, Any]:
    spec, task = prepared.spec, prepared.task
    strategy = get_strategy(spec.strategy)
    distributions = strategy.distributions(spec, prepared.base)
    return {"spec": spec.to_dict(), "task": task.name, "metric_name": task.metric_name,
            "direction": task.direction, "defaults": prepared.base,
            "distributions": queue.distributions_to_json(distributions),
            "sampler": strategy.sampler_label(spec), "hpstudy_version": __version__,
            **strategy.start_attrs(prepared.base)}


def create_or_resume(store: Store, prepared: Prepared) -> optuna.Study:
    """Open the study (creating it the first time) and queue what it does not hold yet."""
    name, strategy = prepared.spec.name, get_strategy(prepared.spec.strategy)
    if store.exists(name):
        study = store.load(name)
        stored = study.user_attrs.get("spec")
        if not isinstance(stored, dict) or StudySpec.from_dict(stored) != prepared.spec:
            raise ConfigError(f"Study {name!r} in {redact(store.url)} was created from a "
                              "different spec; use another --out/--storage or the same spec.")
        missing = sorted(set(prepared.base) - set(study.user_attrs.get("defaults", {})))
        if missing:
            made_by = study.user_attrs.get("hpstudy_version", "an earlier version")
            raise ConfigError(f"Study {name!r} in {redact(store.url)} was made by hpstudy "
                              f"{made_by}, before the hyperparameters {', '.join(missing)} "
                              "existed; `status`, `trials` and `report` read it, but to run "
                              "it again use another --out/--storage.")
    else:
        study = store.retry(lambda: optuna.create_study(
            study_name=name, storage=store.storage,
            direction="maximize" if prepared.task.direction == "maximize" else "minimize",
            load_if_exists=True))
        for key, value in study_attrs(prepared).items():
            store.retry(functools.partial(study.set_user_attr, key, value))
    queue.enqueue_slots(store, study, strategy.open_slots(prepared.spec))
    queue.enqueue(store, study, prepared.planned)
    return study


def start_method() -> str:
    """fork where the platform has it: workers inherit every registered task, also one defined
    in a notebook cell or a script. Elsewhere spawn, which imports tasks again by module."""
    return "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"


def check_start(task: Task, options: WorkerOptions) -> None:
    """Raise a ConfigError when worker processes could not find `task`."""
    if start_method() == "fork" or type(task).__module__.startswith("hpstudy.") \
            or options.task_modules:
        return
    raise ConfigError(f"Task {task.name!r} is defined in this session (a notebook cell or a "
                      "script), and worker processes on this platform start afresh (no fork), "
                      "so they cannot see it: move the class into a .py file exposing `task` "
                      "and pass it with --task-module (hpstudy.run(..., "
                      "task_modules=['mytask.py'])).")


def worker_process(options: WorkerOptions, siblings: Siblings) -> None:
    """A worker process. The first SIGINT or SIGTERM (Ctrl-C, a notebook's stop button, the
    parent stopping its workers) interrupts it: its trainings are handed back to the queue,
    and later signals cannot cut that short."""
    def interrupted(_signum: int, _frame: Any) -> None:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        raise KeyboardInterrupt

    signal.signal(signal.SIGINT, interrupted)
    signal.signal(signal.SIGTERM, interrupted)
    try:
        siblings.in_worker_process()
        run_worker(options, siblings)
    except KeyboardInterrupt:
        sys.exit(INTERRUPTED)


def start_workers(options: WorkerOptions, jobs: int) -> list[multiprocessing.process.BaseProcess]:
    context: Any = multiprocessing.get_context(start_method())
    siblings = Siblings.create(context)
    processes: list[multiprocessing.process.BaseProcess] = []
    for _ in range(jobs):
        child = replace(options, exit_with_parent=True, workers=jobs)
        process = context.Process(target=worker_process, args=(child, siblings),
                                  daemon=False)
        process.start()
        processes.append(process)
    return processes


def wait_for(processes: list[multiprocessing.process.BaseProcess],
             poll: Callable[[], None] | None) -> None:
    """Wait for the workers, calling `poll` every POLL_S, or less often when a poll is slow
    (reading progress takes CPU time from the workers: at most a tenth of one core)."""
    try:
        interval = None if poll is None else POLL_S
        while alive := [p.sentinel for p in processes if p.is_alive()]:
            if poll is not None:
                started = time.perf_counter()
                poll()
                interval = max(POLL_S, 10 * (time.perf_counter() - started))
            multiprocessing.connection.wait(alive, timeout=interval)
    except BaseException:
        for process in processes:
            process.terminate()
        for process in processes:
            process.join(10)
        raise
    if poll is not None:
        poll()
    failed = [p.exitcode for p in processes if p.exitcode]
    if failed:
        raise HPStudyError(f"{len(failed)} worker process(es) stopped with an error "
                           f"(exit codes {failed}); run the command again to resume.")


def advance(store: Store, study: optuna.Study, spec: StudySpec) -> int:
    """Queue the strategy's next round; returns the trainings added (0: the study is done)."""
    attrs = store.retry(lambda: study.user_attrs, locked=False)
    records = store.retry(lambda: read_records(study), locked=False)
    step = get_strategy(spec.strategy).next_round(spec, attrs, records,
                                                  attrs["direction"] == "maximize")
    if step is None:
        return 0
    updates, planned = step
    for key, value in updates.items():
        store.retry(functools.partial(study.set_user_attr, key, value))
    return queue.enqueue(store, study, planned)


def run(store: Store, study: optuna.Study, spec: StudySpec, options: WorkerOptions, jobs: int,
        progress: ProgressFn | None) -> None:
    """Work on the study with `jobs` processes until its queue is empty, showing `progress`
    (if any) from the database."""
    def poll() -> None:
        if progress is not None:
            progress(store.retry(lambda: read_records(study), locked=False), 0)

    while True:
        store.close()  # each process opens its own connections
        wait_for(start_workers(options, jobs), poll if progress is not None else None)
        if options.deadline is not None and time.time() >= options.deadline:
            return
        if advance(store, study, spec) == 0:
            return
