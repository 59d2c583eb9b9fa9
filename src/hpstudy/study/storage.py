"""Where studies live: Optuna's RDB storage (a SQLite file by default, PostgreSQL for many
machines), and how hpstudy's trainings map onto Optuna trials.

Schema. The study's user attributes hold `spec` (the study file as data), `task`,
`metric_name`, `direction`, `defaults` (the full baseline), `factor_values` (choices per
factor) and, once made, `final` (the final choice and its one test evaluation). Each training
is one trial: its Optuna params are the study's factors; its user attributes hold `params` (the
full configuration, seed excluded), `seed`, `config_id`, `role` and, when done, `result` (metrics,
curves, time, status, error, environment) in one JSON object.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import random
import re
import sqlite3
import time
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import optuna
import sqlalchemy.exc
from optuna.storages import RDBStorage, RetryHeartbeatStaleTrialCallback

from hpstudy.errors import HPStudyError

log = logging.getLogger(__name__)
T = TypeVar("T")

HEARTBEAT_INTERVAL_S = 5
GRACE_PERIOD_S = 20
MAX_RETRIES_OF_STALE = 3
RETRY_DEADLINE_S = 300.0  # how long a worker keeps retrying an unreachable database
DB_FILE = "study.db"

optuna.logging.set_verbosity(optuna.logging.WARNING)
warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)


def redact(url: str) -> str:
    """`url` with any password replaced by `***`."""
    return re.sub(r"(://[^:/@]+:)[^@]*@", r"\1***@", url)


def default_url(out_dir: Path) -> str:
    return f"sqlite:///{(out_dir / DB_FILE).resolve()}"


def sqlite_path(url: str) -> Path | None:
    return Path(url[len("sqlite:///"):]) if url.startswith("sqlite:///") else None


class Store:
    """An open storage: Optuna's RDBStorage plus retries and, for SQLite, a file lock that
    lets any number of local processes write without 'database is locked'."""

    def __init__(self, url: str):
        self.url = url
        self.path = sqlite_path(url)
        engine_kwargs: dict[str, Any] = {"pool_pre_ping": True}
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            _enable_wal(self.path)
            engine_kwargs = {"connect_args": {"timeout": 120}}
        self.storage = self.retry(lambda: RDBStorage(
            url, engine_kwargs=engine_kwargs, heartbeat_interval=HEARTBEAT_INTERVAL_S,
            grace_period=GRACE_PERIOD_S,
            heartbeat_stale_trial_callback=RetryHeartbeatStaleTrialCallback(MAX_RETRIES_OF_STALE),
        ), locked=True)

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """Hold the cross-process write lock (SQLite only; a server database needs none)."""
        if self.path is None:
            yield
            return
        with open(self.path.with_suffix(".lock"), "a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def retry(self, action: Callable[[], T], locked: bool = True) -> T:
        """Run `action`, retrying with backoff while the database is unreachable."""
        deadline = time.monotonic() + RETRY_DEADLINE_S
        delay = 0.2
        while True:
            try:
                with self.locked() if locked else contextlib.nullcontext():
                    return action()
            except (sqlalchemy.exc.OperationalError, sqlalchemy.exc.InterfaceError,
                    optuna.exceptions.StorageInternalError) as exc:
                if time.monotonic() > deadline:
                    raise HPStudyError(f"The study database {redact(self.url)} is unreachable: "
                                       f"{redact(str(exc).splitlines()[0])}") from exc
                log.warning("database unavailable (%s); retrying in %.1f s",
                            redact(str(exc).splitlines()[0]), delay)
                time.sleep(delay * (1 + random.random() / 2))
                delay = min(delay * 2, 10.0)

    def load(self, name: str) -> optuna.Study:
        """The existing study `name`, or an HPStudyError saying it does not exist."""
        def action() -> optuna.Study:
            return optuna.load_study(study_name=name, storage=self.storage)
        try:
            return self.retry(action, locked=False)
        except KeyError as exc:
            raise HPStudyError(f"No study named {name!r} in {redact(self.url)}.") from exc

    def exists(self, name: str) -> bool:
        summaries = self.retry(lambda: optuna.get_all_study_names(self.storage), locked=False)
        return name in summaries

    def close(self) -> None:
        self.storage.remove_session()
        engine = getattr(self.storage, "engine", None)
        if engine is not None:
            engine.dispose()


def _enable_wal(path: Path) -> None:
    """Write-ahead logging lets readers (progress, status) work while a worker writes."""
    connection = sqlite3.connect(path, timeout=120)
    try:
        connection.execute("PRAGMA journal_mode=WAL")
    finally:
        connection.close()
