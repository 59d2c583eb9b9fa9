"""Tasks by name: the built-in ones and those loaded from a user's module."""

from __future__ import annotations

import importlib
import importlib.util
import sys
from pathlib import Path

from hpstudy.errors import ConfigError
from hpstudy.tasks.base import Task

_TASKS: dict[str, Task] = {}


def register_task(task: Task) -> Task:
    """Make `task` available by its name (a later registration replaces an earlier one)."""
    if not isinstance(task, Task) or not task.name:
        raise ConfigError(f"A task must be a named hpstudy.tasks.Task instance. Got {task!r}.")
    _TASKS[task.name] = task
    return task


def _ensure_builtins() -> None:
    if "usps" not in _TASKS:
        from hpstudy.tasks.houses import HousesTask
        from hpstudy.tasks.usps import UspsTask

        register_task(UspsTask())
        register_task(HousesTask())


def get_task(name: str) -> Task:
    """The registered task called `name`, or a ConfigError listing the known ones."""
    _ensure_builtins()
    if name not in _TASKS:
        known = ", ".join(sorted(_TASKS))
        raise ConfigError(f"Unknown task {name!r}. Known tasks: {known}.")
    return _TASKS[name]


def list_tasks() -> list[Task]:
    """All registered tasks, sorted by name."""
    _ensure_builtins()
    return [_TASKS[name] for name in sorted(_TASKS)]


def load_task_module(spec: str) -> Task:
    """Import a dotted module or a `.py` path exposing `task`, and register that task."""
    try:
        if spec.endswith(".py"):
            path = Path(spec)
            if not path.is_file():
                raise ConfigError(f"Task module file {spec!r} does not exist.")
            module_name = f"hpstudy_user_task_{path.stem}"
            loader_spec = importlib.util.spec_from_file_location(module_name, path)
            if loader_spec is None or loader_spec.loader is None:
                raise ConfigError(f"Cannot load task module {spec!r}.")
            module = importlib.util.module_from_spec(loader_spec)
            sys.modules[module_name] = module
            loader_spec.loader.exec_module(module)
        else:
            module = importlib.import_module(spec)
    except ConfigError:
        raise
    except Exception as exc:  # a user's module can fail in any way: report it in one line
        raise ConfigError(f"Cannot import task module {spec!r}: {exc}") from exc
    task = getattr(module, "task", None)
    if task is None:
        raise ConfigError(f"Task module {spec!r} has no attribute 'task'.")
    return register_task(task)
