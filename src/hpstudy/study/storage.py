"""Where studies live: Optuna's RDB storage (a SQLite file by default, PostgreSQL for many
machines), and how hpstudy's trainings map onto Optuna trials.

Schema. The study's user attributes hold `spec` (the study file as data), `task`,
`metric_name`, `direction`, `defaults` (the full baseline), `distributions` (per factor, the
Optuna distribution of its values, as JSON; studies stored before ranges hold `factor_values`,
the choices per factor), `sampler` (its name and seed) and, once made, `final` (the final
choice and its one test evaluation). Each training is one trial: its Optuna params are the
study's factors; its user attributes hold `params` (the full configuration, seed excluded),
`seed`, `config_id`, `role`, `slot` (the configuration's place in the study, the same on all
its seeds; not in coordinate rounds) and, when done, `result` (metrics, curves, time, status,
error, environment) in one JSON object.
"""

from __future__ import annotations

import contextlib
import fcntl
import importlib.util
import logging
import os
import random
import re
import sqlite3
import time
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import optuna
import sqlalchemy.engine
import sqlalchemy.exc
from optuna.storages import RDBStorage, RetryHeartbeatStaleTrialCallback

from hpstudy.errors import ConfigError, HPStudyError

log = logging.getLogger(__name__)
T = TypeVar("T")

HEARTBEAT_INTERVAL_S = 5  # a worker records a heartbeat this often (env HPSTUDY_HEARTBEAT_S)
GRACE_PERIOD_S = 20  # a training without heartbeat this long is failed and queued again
#                      (env HPSTUDY_GRACE_S)
HEARTBEAT_ENV, GRACE_ENV = "HPSTUDY_HEARTBEAT_S", "HPSTUDY_GRACE_S"
MAX_RETRIES_OF_STALE = 3
RETRY_DEADLINE_S = 300.0  # how long a worker keeps retrying an unreachable database
SCHEMA_ATTEMPTS = 5  # tries to open a new database that other processes create at once
DB_FILE = "study.db"

optuna.logging.set_verbosity(optuna.logging.WARNING)
warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)


def redact(url: str) -> str:
    """`url` (or a message holding it) with any password replaced by `***`: the one between
    `user:` and the last `@`, and `password=` query parameters."""
    url = re.sub(r"((?:^|[?&;\s])\w*password=)[^&;\s]*", r"\1***", url, flags=re.IGNORECASE)
    return re.sub(r"(://[^:/@\s]*:).*@", r"\1***@", url, flags=re.DOTALL)


def default_url(out_dir: Path) -> str:
    return f"sqlite:///{(out_dir / DB_FILE).resolve()}"


def sqlite_path(url: str) -> Path | None:
    return Path(url[len("sqlite:///"):]) if url.startswith("sqlite:///") else None


def engine_url(url: str) -> str:
    """The URL handed to SQLAlchemy. SQLAlchemy 2.1 reads a bare `postgresql://` with psycopg
    (3); where only psycopg2 (what `hpstudy[postgres]` installs) is present, that one is used.
    `postgres://` is read as `postgresql://`."""
    url = _quote_at_signs(url)
    try:
        parsed = sqlalchemy.engine.make_url(url)
    except (sqlalchemy.exc.ArgumentError, ValueError) as exc:
        raise ConfigError(f"The storage URL {redact(url)!r} is not a database URL "
                          "(e.g. sqlite:///study.db, postgresql://USER:PASS@HOST/DB).") from exc
    if parsed.drivername not in ("postgres", "postgresql"):
        return url
    if importlib.util.find_spec("psycopg") is not None:
        return "postgresql://" + url.split("://", 1)[1]
    if importlib.util.find_spec("psycopg2") is not None:
        return "postgresql+psycopg2://" + url.split("://", 1)[1]
    raise ConfigError("PostgreSQL storage needs a driver: pip install 'hpstudy[postgres]'.")


def _quote_at_signs(url: str) -> str:
    """`user:p@ss@host` with the '@' of the user info percent-encoded (`p%40ss`): SQLAlchemy
    would end the password at the first '@' and take the rest of it for the host name, which
    then shows in error messages."""
    head, sep, rest = url.partition("://")
    end = rest.split("?", 1)[0].rfind("@")
    if not sep or end < 0 or rest.startswith("/"):  # no user info (a file path)
        return url
    return f"{head}://{rest[:end].replace('@', '%40')}{rest[end:]}"


def heartbeat_settings() -> tuple[int, int]:
    """(heartbeat interval, grace period) in seconds: the defaults, or the environment's."""
    interval = _env_seconds(HEARTBEAT_ENV, HEARTBEAT_INTERVAL_S)
    grace = _env_seconds(GRACE_ENV, GRACE_PERIOD_S)
    if (HEARTBEAT_ENV in os.environ or GRACE_ENV in os.environ) and grace <= interval:
        raise ConfigError(f"{GRACE_ENV} ({grace}) must be greater than {HEARTBEAT_ENV} "
                          f"({interval}).")
    return interval, grace


def _env_seconds(name: str, default: int) -> int:
    text = os.environ.get(name)
    if not text:
        return default
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise ConfigError(f"The environment variable {name} must be an int >= 1. Got {text!r}.")
    return value


class Store:
    """An open storage: Optuna's RDBStorage plus retries and, for SQLite, a file lock that
    lets any number of local processes write without 'database is locked'."""

    def __init__(self, url: str, schema_checked: bool = False):
        self.url = url
        self.schema_checked = schema_checked  # skip Optuna's table creation and version check
        self.path = sqlite_path(url)
        self.heartbeat_interval, self.grace_period = heartbeat_settings()
        target = engine_url(url)
        engine_kwargs: dict[str, Any] = {"pool_pre_ping": True}
        if self.path is not None:
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                _enable_wal(self.path)
            except (OSError, sqlite3.Error) as exc:
                raise ConfigError(f"Cannot open the study database {str(self.path)!r}: "
                                  f"{exc}") from exc
            engine_kwargs = {"connect_args": {"timeout": 120}}
        try:
            self.storage = self._open(target, engine_kwargs)
        except ImportError as exc:
            raise ConfigError(f"Cannot open {redact(url)}: no driver for this database "
                              f"({redact(str(exc))}); for PostgreSQL: pip install "
                              "'hpstudy[postgres]'.") from exc
        except sqlalchemy.exc.ArgumentError as exc:
            raise ConfigError(f"The storage URL {redact(url)!r} names no known database: "
                              f"{redact(str(exc))}") from exc
        if self.path is not None:
            _relax_sync(self.storage)

    def _open(self, target: str, engine_kwargs: dict[str, Any]) -> RDBStorage:
        """Optuna's storage. Opening creates the tables of a new database; processes that do
        so at the same moment collide (a duplicate type or table), and the losers try again."""
        attempt = 1
        while True:
            try:
                return self.retry(lambda: RDBStorage(
                    target, engine_kwargs=engine_kwargs,
                    heartbeat_interval=self.heartbeat_interval, grace_period=self.grace_period,
                    heartbeat_stale_trial_callback=RetryHeartbeatStaleTrialCallback(
                        MAX_RETRIES_OF_STALE),
                    skip_compatibility_check=self.schema_checked,
                    skip_table_creation=self.schema_checked,
                ), locked=True)
            except (sqlalchemy.exc.IntegrityError, sqlalchemy.exc.ProgrammingError) as exc:
                if attempt == SCHEMA_ATTEMPTS:
                    raise HPStudyError(f"Cannot create the study tables in {redact(self.url)}: "
                                       f"{redact(str(exc).splitlines()[0])}") from exc
                attempt += 1
                time.sleep(0.1 + random.random() / 2)

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


def _set_synchronous_normal(connection: Any, _record: Any) -> None:
    connection.execute("PRAGMA synchronous=NORMAL")


def _relax_sync(storage: RDBStorage) -> None:
    """In WAL mode, `synchronous=NORMAL` skips an fsync per commit: a killed process still
    loses nothing (only a power cut can drop the last commits), and each write is much faster."""
    sqlalchemy.event.listen(storage.engine, "connect", _set_synchronous_normal)
    storage.engine.dispose()  # connections opened so far reconnect with the setting


def _enable_wal(path: Path) -> None:
    """Write-ahead logging lets readers (progress, status) work while a worker writes."""
    connection = sqlite3.connect(path, timeout=120)
    try:
        connection.execute("PRAGMA journal_mode=WAL")
    finally:
        connection.close()
