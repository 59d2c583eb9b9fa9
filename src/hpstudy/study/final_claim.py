"""One final choice per study, however many reports ask at once.

Making the final choice retrains a configuration and evaluates it on the test set: two
processes (reports on one machine or on many, through one database) that find no stored
choice at the same moment must not both do it. The first to insert the study user attribute
`final_claim` (unique per study and key in Optuna's schema) makes the choice; the others wait
until `final` is stored and read it. The holder beats (rewrites the claim with a counter)
every heartbeat interval; a claim that has not changed for the storage's grace period belongs
to a process that died, and a waiter takes it over (compare and swap: only one can).
"""

from __future__ import annotations

import json
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import optuna
import sqlalchemy
import sqlalchemy.exc
from optuna.storages._rdb import models

from hpstudy.study.bulk import STUDIES, backend
from hpstudy.study.storage import Store

STUDY_ATTRS = models.StudyUserAttributeModel.__table__
KEY = "final_claim"
WAIT_POLL_S = 1.0


def _study_id(study: optuna.Study) -> int:
    return int(study._study_id)


def insert_or_read(study: optuna.Study, value: str) -> str | None:
    """Store `value` as the claim unless there is one: None when stored, else the holder's."""
    with backend(study).engine.begin() as connection:
        # the study row's lock serializes claims (PostgreSQL; SQLite holds the file lock)
        connection.execute(sqlalchemy.select(STUDIES.c.study_id)
                           .where(STUDIES.c.study_id == _study_id(study)).with_for_update())
        held = connection.execute(sqlalchemy.select(STUDY_ATTRS.c.value_json).where(
            STUDY_ATTRS.c.study_id == _study_id(study), STUDY_ATTRS.c.key == KEY)).scalar()
        if held is not None:
            return str(held)
        connection.execute(STUDY_ATTRS.insert(), {"study_id": _study_id(study), "key": KEY,
                                                  "value_json": value})
        return None


def swap(study: optuna.Study, old: str, new: str | None) -> bool:
    """Replace the claim `old` by `new` (None: remove it) if it is still `old`."""
    where = (STUDY_ATTRS.c.study_id == _study_id(study), STUDY_ATTRS.c.key == KEY,
             STUDY_ATTRS.c.value_json == old)
    with backend(study).engine.begin() as connection:
        statement = (STUDY_ATTRS.delete().where(*where) if new is None
                     else STUDY_ATTRS.update().where(*where).values(value_json=new))
        return bool(connection.execute(statement).rowcount)


def describe(value: str) -> str:
    holder = json.loads(value)
    return f"{holder['host']} (pid {holder['pid']}) since {holder['since']}"


class FinalClaim:
    """`with FinalClaim(store, name) as claim:` returns once this process may make the final
    choice (`claim.stored` is None) or another process has stored it (`claim.stored`)."""

    def __init__(self, store: Store, name: str,
                 on_wait: Callable[[str], None] | None = None):
        self.store, self.name, self.on_wait = store, name, on_wait
        self.study = store.load(name)
        self.holder: dict[str, Any] = {
            "host": socket.gethostname(), "pid": os.getpid(), "token": uuid.uuid4().hex,
            "since": datetime.now(UTC).isoformat(timespec="seconds"), "beat": 0}
        self.value = json.dumps(self.holder)
        self.stored: dict[str, Any] | None = None
        self.stop = threading.Event()
        self.beater: threading.Thread | None = None

    def stored_final(self) -> dict[str, Any] | None:
        final = self.store.retry(lambda: self.study.user_attrs, locked=False).get("final")
        return final if isinstance(final, dict) else None

    def __enter__(self) -> FinalClaim:
        seen, seen_at = None, time.monotonic()
        while True:
            self.stored = self.stored_final()
            if self.stored is not None:
                return self
            try:
                held = self.store.retry(lambda: insert_or_read(self.study, self.value))
            except sqlalchemy.exc.IntegrityError:  # another claim was inserted meanwhile
                time.sleep(WAIT_POLL_S)
                continue
            if held is None:
                break
            if held != seen:
                if seen is None and self.on_wait is not None:
                    self.on_wait(f"The final choice of {self.name!r} is being made by "
                                 f"{describe(held)}; waiting for it.")
                seen, seen_at = held, time.monotonic()
            elif time.monotonic() - seen_at > self.store.grace_period:  # its maker died
                if self.swap(held, self.value):
                    break
            time.sleep(WAIT_POLL_S)
        self.stored = self.stored_final()  # stored just before this process claimed
        self.beater = threading.Thread(target=self.beat, daemon=True)
        self.beater.start()
        return self

    def swap(self, old: str, new: str | None) -> bool:
        return self.store.retry(lambda: swap(self.study, old, new))

    def beat(self) -> None:
        while not self.stop.wait(self.store.heartbeat_interval):
            self.holder["beat"] += 1
            new = json.dumps(self.holder)
            try:
                if self.swap(self.value, new):
                    self.value = new
            except Exception:  # a missed beat is retried at the next one
                continue

    def __exit__(self, *exc: object) -> None:
        if self.beater is None:
            return
        self.stop.set()
        self.beater.join()  # no beat rewrites the claim after this
        self.swap(self.value, None)
