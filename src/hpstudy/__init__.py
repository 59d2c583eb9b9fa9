"""hpstudy: hyperparameter studies of PyTorch models, stored, reproducible and written up.

From Python (a notebook, a script)::

    import hpstudy
    study = hpstudy.run("houses-seed", epoch_scale=0.1)   # run or resume a study
    study.trials()                                         # a pandas DataFrame
    study.table("lr"), study.plot("lr"), study.final()

`run`, `open`, `reproduce`, `work`, `Study` and `Task` are imported on first use, so that
`import hpstudy` (and the command line) stays quick.
"""

from typing import TYPE_CHECKING, Any

from hpstudy.errors import ConfigError, DataError, HPStudyError

__version__ = "0.2.0"

__all__ = ["ConfigError", "DataError", "HPStudyError", "Study", "Task", "open", "reproduce",
           "run", "work"]

_LAZY = {"run": "hpstudy.api", "open": "hpstudy.api", "reproduce": "hpstudy.api",
         "work": "hpstudy.api", "Study": "hpstudy.api_study", "Task": "hpstudy.tasks"}

if TYPE_CHECKING:
    from hpstudy.api import open, reproduce, run, work  # noqa: A004
    from hpstudy.api_study import Study
    from hpstudy.tasks import Task


def __getattr__(name: str) -> Any:
    import importlib

    if name not in _LAZY:
        raise AttributeError(f"module 'hpstudy' has no attribute {name!r}")
    value = getattr(importlib.import_module(_LAZY[name]), name)
    globals()[name] = value
    return value
