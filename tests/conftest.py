"""Fixtures shared by several test folders: a PostgreSQL server for the `postgres` tests.

`HPSTUDY_TEST_POSTGRES_URL` names a scratch database (set by `.ci/run`, with
`HPSTUDY_TEST_PG_DIR` for restarts); without it, a throwaway server is started with
`tests/pg_server.sh` when PostgreSQL is installed. With `CI` set, a missing server fails the
tests instead of skipping them.
"""

from __future__ import annotations

import os
import shlex
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import sqlalchemy
from sqlalchemy.engine import make_url

from hpstudy.study.storage import engine_url

PG_SERVER = Path(__file__).with_name("pg_server.sh")


def no_server(reason: str) -> None:
    """Fail under CI, skip elsewhere."""
    if os.environ.get("CI"):
        pytest.fail(f"CI is set but {reason}", pytrace=False)
    pytest.skip(reason)


@dataclass
class PgServer:
    url: str
    directory: str | None  # a pg_server.sh server directory, when restarts are possible

    @property
    def password(self) -> str:
        return str(make_url(self.url).password or "")

    def dump(self) -> str:
        """Every row of every table of the database, as text."""
        engine = sqlalchemy.create_engine(engine_url(self.url))
        try:
            with engine.connect() as connection:
                tables = sqlalchemy.inspect(connection).get_table_names()
                rows = [connection.execute(sqlalchemy.text(f'SELECT * FROM "{t}"')).all()
                        for t in tables]
        finally:
            engine.dispose()
        return "\n".join(map(str, rows))

    def check_restartable(self) -> None:
        if self.directory is None:
            no_server("HPSTUDY_TEST_PG_DIR is not set, so the server cannot be restarted")

    def restart(self, down_s: float = 0.0) -> None:
        """Stop the server (fast shutdown), keep it down `down_s` seconds, start it again."""
        self.check_restartable()
        subprocess.run([str(PG_SERVER), "restart", str(self.directory), str(down_s)],
                       check=True, timeout=120)


@pytest.fixture(scope="session")
def postgres() -> Iterator[PgServer]:
    """A PostgreSQL server: the one named by the environment, or a throwaway one."""
    url = os.environ.get("HPSTUDY_TEST_POSTGRES_URL")
    if url:
        yield PgServer(url, os.environ.get("HPSTUDY_TEST_PG_DIR") or None)
        return
    if subprocess.run([str(PG_SERVER), "bindir"], capture_output=True).returncode != 0:
        no_server("no PostgreSQL server: set HPSTUDY_TEST_POSTGRES_URL, or install PostgreSQL "
                  "(initdb, pg_ctl) for a throwaway one")
    started = subprocess.run([str(PG_SERVER), "start"], capture_output=True, text=True,
                             timeout=180)
    if started.returncode != 0:
        pytest.fail(f"tests/pg_server.sh start failed: {started.stderr.strip()}", pytrace=False)
    env = dict(line.removeprefix("export ").split("=", 1) for line in started.stdout.splitlines())
    directory = shlex.split(env["HPSTUDY_TEST_PG_DIR"])[0]
    try:
        yield PgServer(shlex.split(env["HPSTUDY_TEST_POSTGRES_URL"])[0], directory)
    finally:
        subprocess.run([str(PG_SERVER), "stop", directory], timeout=120)
