"""Tasks: what to learn, from which data, with which model, loss and metric, and the
hyperparameters the model declares."""

from hpstudy.config import Bool, Choice, Config, Float, Int, Param
from hpstudy.tasks.base import (
    ACTIVATION,
    LAYERS,
    WIDTH,
    Splits,
    Task,
    loss_choice,
    make_activation,
)
from hpstudy.tasks.registry import get_task, list_tasks, load_task_module, register_task

__all__ = [
    "ACTIVATION",
    "LAYERS",
    "WIDTH",
    "Bool",
    "Choice",
    "Config",
    "Float",
    "Int",
    "Param",
    "Splits",
    "Task",
    "get_task",
    "list_tasks",
    "load_task_module",
    "loss_choice",
    "make_activation",
    "register_task",
]
