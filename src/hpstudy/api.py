"""The Python API: run, resume and open studies from a notebook or a script.

The `hpstudy` commands are a thin layer over these functions. They validate everything before
anything is written, raise `ConfigError` / `DataError` with the one-line messages the commands
print, and never exit the interpreter.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Collection, Sequence
from pathlib import Path
from typing import Any

from hpstudy.api_study import Study, summary_lines
from hpstudy.errors import ConfigError
from hpstudy.progress import ProgressView, progress_view
from hpstudy.runtime import check_data_dir, resolve_cuda
from hpstudy.study import listing, runner
from hpstudy.study.reader import latest_attempts, read_study
from hpstudy.study.records import TrainingRecord
from hpstudy.study.spec import StudySpec, load_spec, parse_spec
from hpstudy.study.storage import DB_FILE, Store, default_url, redact, sqlite_path
from hpstudy.study.worker import WorkerOptions, run_worker
from hpstudy.tasks import Task, get_task, load_task_module, register_task
from hpstudy.train import DEFAULT_CHANCE_PATIENCE, resolve_device

SpecLike = str | Path | dict[str, Any] | StudySpec
PRESETS = ("usps-seed", "houses-seed")  # the report's appendices A and B
QUICK_EPOCH_SCALE = {"usps-seed": 0.1, "houses-seed": 0.2,  # reproduce(quick=True)
                     "usps-beyond": 0.1, "houses-beyond": 0.2}


def study_spec(spec: SpecLike, task: Task | None = None) -> StudySpec:
    """A preset name, a TOML file's path, a dict with the file's keys or a spec, parsed. A dict
    may leave out `task` when `task` is given, and `name` (then TASK-STRATEGY)."""
    if isinstance(spec, StudySpec):
        return spec
    if isinstance(spec, dict):
        data = dict(spec)
        if task is not None:
            data.setdefault("task", task.name)
        if isinstance(data.get("task"), str):
            data.setdefault("name", f"{data['task']}-{data.get('strategy', 'ablation')}")
        return parse_spec(data, "the study dict")
    if isinstance(spec, str | Path):
        return load_spec(str(spec))
    raise ConfigError(f"A study spec must be a preset name, a .toml path or a dict. Got {spec!r}.")


def use_task(name: str, task: Task | None, task_modules: Sequence[str]) -> Task:
    """The study's task: `task` itself (registered, so that worker processes find it), or the
    registered task `name` after importing `task_modules`."""
    for module in task_modules:
        load_task_module(module)
    if task is None:
        return get_task(name)
    if not isinstance(task, Task):
        raise ConfigError(f"task must be an hpstudy.tasks.Task instance. Got {task!r}.")
    if task.name != name:
        raise ConfigError(f"The study is for task {name!r}, but the task given is "
                          f"{task.name!r}.")
    return register_task(task)


def worker_options(url: str, name: str, deadline: float | None, *, device: str = "auto",
                   threads: int | None = None, data_dir: Path | str | None = None,
                   chance_patience: int = DEFAULT_CHANCE_PATIENCE,
                   task_modules: Sequence[str] = ()) -> WorkerOptions:
    """Validated options of the workers of one study."""
    threads = 1 if threads is None else threads
    if threads < 1:
        raise ConfigError(f"--threads must be an int >= 1. Got {threads}.")
    if chance_patience < 0:
        raise ConfigError(f"--chance-patience must be an int >= 0. Got {chance_patience}.")
    return WorkerOptions(url=url, study_name=name, device=resolve_cuda(resolve_device(device)),
                         threads=threads, data_dir=check_data_dir(data_dir),
                         chance_patience=chance_patience, deadline=deadline,
                         task_modules=list(task_modules))


def run(spec: SpecLike, *, task: Task | None = None, out: Path | str | None = None,
        storage: str | None = None, jobs: int | None = None, repeats: int | None = None,
        epoch_scale: float | None = None, progress: bool = True, confirm_large: bool = False,
        data_dir: Path | str | None = None, device: str = "auto", threads: int | None = None,
        chance_patience: int = DEFAULT_CHANCE_PATIENCE, task_modules: Sequence[str] = ()
        ) -> Study:
    """Run a study, or resume it: trainings already stored are kept, those left running by a
    crash or an interrupt are trained again. Returns the study once its queue is empty.

    `spec`: a preset name (`hpstudy presets`), a .toml study file or a dict with its keys.
    `task`: a Task instance, e.g. a class defined in a notebook cell (workers are forked, so
    they see it). `out`: the study's folder (default studies/NAME), holding study.db unless
    `storage` names a database URL. `jobs`: worker processes (default: one per core).
    `repeats`, `epoch_scale`: as `hpstudy run --repeats/--epoch-scale`. `progress`: a bar on
    the terminal, or in the notebook. `confirm_large`: run more than 1,000 trainings.
    An interrupt (Ctrl-C, the notebook's stop button) hands running trainings back to the
    queue and raises KeyboardInterrupt; the same call resumes.
    """
    parsed = study_spec(spec, task).with_overrides(repeats, epoch_scale)
    jobs = (os.cpu_count() or 1) if jobs is None else jobs
    if isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1:
        raise ConfigError(f"--jobs must be an int >= 1. Got {jobs}.")
    chosen = use_task(parsed.task, task, task_modules)
    prepared = runner.prepare(parsed, chosen, confirm_large)
    deadline = time.time() + 60 * parsed.max_minutes if parsed.max_minutes else None
    folder = Path(out) if out is not None else Path("studies") / parsed.name
    url = storage or default_url(folder)
    options = worker_options(url, parsed.name, deadline, device=device, threads=threads,
                             data_dir=data_dir, chance_patience=chance_patience,
                             task_modules=task_modules)
    runner.check_start(chosen, options)
    chosen.load_splits(chosen.make_config(prepared.base), options.data_dir)  # fail early on data
    if storage is None:
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ConfigError(f"Cannot create the output directory {str(folder)!r}: "
                              f"{exc.strerror}.") from exc
    view = progress_view(progress)
    if view is not None:
        view.line(f"study {parsed.name}: {parsed.strategy} on {chosen.name}, {prepared.total} "
                  f"trainings, {jobs} worker(s); storage {redact(url)}")
    store = Store(url)
    study = runner.create_or_resume(store, prepared)
    follow(store, study, prepared.spec, options, jobs, view, chosen.direction)
    result = Study(store, parsed.name, folder)
    if view is not None:
        for line in summary_lines(read_study(store, parsed.name).records, chosen.direction,
                                  chosen.metric_name):
            view.line(line)
    return result


def follow(store: Store, study: Any, spec: StudySpec, options: WorkerOptions, jobs: int,
           view: ProgressView | None, direction: str) -> None:
    """Run the workers, showing done/total and the best so far on `view`."""
    if view is None:
        runner.run(store, study, spec, options, jobs, None)
        return
    shown = view

    def show(records: list[TrainingRecord], _: int) -> None:
        current = latest_attempts(records)
        done = [r for r in current if r.done or r.status == "failed"]
        best = listing.best(current, direction)
        shown.update(len(done), len(current),
                     "best -" if best is None else f"best {best.val_metric:.4g}")

    view.start("trainings", None)
    try:
        runner.run(store, study, spec, options, jobs, show)
    except KeyboardInterrupt:
        view.stop()
        view.interrupted()
        raise
    finally:
        view.stop()


def work(storage: str, name: str, *, device: str = "auto", threads: int | None = None,
         data_dir: Path | str | None = None, chance_patience: int = DEFAULT_CHANCE_PATIENCE,
         task_modules: Sequence[str] = ()) -> int:
    """Join the study `name` kept in the database `storage` (as `hpstudy worker`) until its
    queue is empty; returns the trainings this worker did."""
    require_database(storage)
    return run_worker(worker_options(storage, name, None, device=device, threads=threads,
                                     data_dir=data_dir, chance_patience=chance_patience,
                                     task_modules=task_modules))


def require_database(url: str) -> None:
    """Reading or joining a study never creates a missing SQLite file."""
    path = sqlite_path(url)
    if path is not None and not path.is_file():
        raise ConfigError(f"No study database at {str(path)!r}.")


def open(path_or_url: Path | str, name: str | None = None) -> Study:  # noqa: A001
    """A stored study: a study folder (holding study.db), a .db file, or a database URL with
    `name` (needed when the database holds several studies)."""
    text = str(path_or_url)
    folder: Path | None = None
    if "://" in text:
        url = text
    else:
        path = Path(path_or_url)
        if path.suffix == ".db" and path.is_file():
            url, folder = f"sqlite:///{path.resolve()}", path.parent
        elif (path / DB_FILE).is_file():
            url, folder = default_url(path), path
        else:
            raise ConfigError(f"No study in {text!r} (no study.db there).")
    require_database(url)
    store = Store(url)
    names = store.retry(lambda: listing.study_names(store), locked=False)
    chosen = name or (names[0] if len(names) == 1 else None)
    if chosen is None:
        raise ConfigError(f"{redact(url)} holds {len(names)} studies; name one with --study "
                          f"({', '.join(names)}).")
    store.load(chosen)  # an HPStudyError when there is no such study
    return Study(store, chosen, folder)


def reproduce(out: Path | str = "studies/reproduction", *, quick: bool = False,
              jobs: int | None = None, formats: Collection[str] | None = None,
              rule: str | None = None, tolerance: float | None = None, final: bool = True,
              final_now: bool = False, data_dir: Path | str | None = None,
              progress: bool = True, beyond: bool = False) -> tuple[list[Study], list[Path]]:
    """Both report presets (run or resumed), their final choices by `rule` (default: the
    configuration the report chose) and one combined report under `out` with final.json;
    `quick` runs fewer epochs. With `beyond`, the presets usps-beyond and houses-beyond too
    (final choice by the rule `best`), the report's choice retrained on their seeds, and a first
    section that compares them. Returns the studies and the files written."""
    from hpstudy.report import FORMATS, write_report
    from hpstudy.study.comparison import BEYOND_PRESETS, compare

    chosen = list(FORMATS if formats is None else formats)
    unknown = sorted(set(chosen) - set(FORMATS))
    if unknown or not chosen:
        raise ConfigError(f"Unknown report format(s) {unknown}; choose from {list(FORMATS)}.")
    if beyond and not final:
        raise ConfigError("--beyond compares final choices: leave out --no-final.")
    folder = Path(out)
    names = list(PRESETS) + ([pair[1] for pair in BEYOND_PRESETS.values()] if beyond else [])
    studies = [run(name, out=folder / name, jobs=jobs, data_dir=data_dir, progress=progress,
                   epoch_scale=QUICK_EPOCH_SCALE[name] if quick else None) for name in names]
    data = [study.report_data(final=final, rule=rule if name in PRESETS else None,
                              tolerance=tolerance, data_dir=data_dir, threads=1,
                              final_now=final_now,
                              default_rule="report" if name in PRESETS else "best")
            for name, study in zip(names, studies, strict=True)]
    by_name = {study.name: study for study in studies}
    comparisons = [compare(task, (by_name[first].store, first), (by_name[second].store, second),
                           by_name[second].out, data_dir=check_data_dir(data_dir),
                           device=resolve_device("auto"))
                   for task, (first, second) in BEYOND_PRESETS.items()] if beyond else []
    paths = write_report(data, folder, chosen, comparisons=comparisons)
    finals: dict[str, Any] = {item.name: item.final for item in data}
    for comparison in comparisons:
        finals[f"{comparison.beyond.name}:baseline"] = comparison.baseline
    (folder / "final.json").write_text(json.dumps(finals, indent=1, default=str))
    return studies, paths
