"""Tasks: what to learn, from which data, with which model, loss and metric."""

from hpstudy.tasks.base import Splits, Task, make_activation
from hpstudy.tasks.registry import get_task, list_tasks, load_task_module, register_task

__all__ = [
    "Splits",
    "Task",
    "get_task",
    "list_tasks",
    "load_task_module",
    "make_activation",
    "register_task",
]
