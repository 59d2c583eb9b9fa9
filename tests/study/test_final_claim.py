"""Reports that ask for the final choice at the same moment, on one database (SQLite) or from
many machines (PostgreSQL): one of them retrains and tests, the others wait and read its
numbers; a claim whose maker died is taken over, one whose maker is alive is not."""

from __future__ import annotations

import json
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import optuna
import pytest

from hpstudy.study import final, final_claim, queue
from hpstudy.study.runner import create_or_resume, prepare
from hpstudy.study.spec import load_spec
from hpstudy.study.storage import Store, default_url
from hpstudy.tasks import get_task


def finished_study(tmp_path: Path, url: str) -> str:
    """A houses ablation over two widths, both trainings recorded with made-up validation
    MSEs (width 8 is best), in `url`; returns its name."""
    name = f"claim-{uuid.uuid4().hex[:8]}"
    path = tmp_path / f"{name}.toml"
    path.write_text(f'name = "{name}"\ntask = "houses"\nstrategy = "ablation"\n'
                    "[defaults]\nlayers = 1\nepochs = 2\nwidth = 16\n[space]\nwidth = [16, 8]\n")
    store = Store(url)
    create_or_resume(store, prepare(load_spec(str(path)), get_task("houses"), False))
    study = store.load(name)
    for item in queue.waiting(study):
        mse = 0.3 if item.user_attrs["params"]["width"] == 8 else 0.5
        assert queue.claim(store, study, [item.trial_id]) == [item.trial_id]
        queue.record(store, study, [(item.trial_id, {
            "status": "complete", "val_metric": mse, "train_metric": mse, "val_loss": mse,
            "train_loss": mse, "train_time_s": 0.1, "epochs_run": 2,
            "curves": {"val_metric": [mse], "train_loss": [mse], "val_loss": [mse]}})])
    store.close()
    return name


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return default_url(tmp_path / "db")
    return str(request.getfixturevalue("postgres").url)


def count_test_evaluations(monkeypatch: pytest.MonkeyPatch, hold_until: threading.Event
                           ) -> list[int]:
    """Count calls of the test evaluation; the first waits (30 s at most) for `hold_until`,
    so that the other report asks while this one is making the choice."""
    calls: list[int] = []
    real = final.evaluate_on_test

    def counted(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        if len(calls) == 1:
            hold_until.wait(30)
        return real(*args, **kwargs)
    monkeypatch.setattr(final, "evaluate_on_test", counted)
    return calls


def claim_value(url: str, name: str) -> Any:
    store = Store(url)
    try:
        return store.load(name).user_attrs.get(final_claim.KEY)
    finally:
        store.close()


def test_two_reports_at_once_test_once(url, tmp_path, monkeypatch):
    """Two reports (threads with their own connections) find no final choice at the same
    moment: one retrains and tests, the other says who is making it, waits and returns the
    same numbers; no claim is left behind."""
    name = finished_study(tmp_path, url)
    asked = threading.Event()
    calls = count_test_evaluations(monkeypatch, asked)
    said: list[str] = []
    finals: dict[int, dict[str, Any]] = {}
    start = threading.Barrier(2)

    def report(index: int) -> None:
        store = Store(url)
        try:
            start.wait()
            finals[index] = final.final_choice(
                store, name, tmp_path / f"out{index}",
                on_wait=lambda line: (said.append(line), asked.set()))
        finally:
            store.close()

    threads = [threading.Thread(target=report, args=(i,)) for i in (0, 1)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert len(calls) == 1, "the test set was evaluated by both reports"
    assert finals[0] == finals[1] and finals[0]["params"]["width"] == 8
    assert len(said) == 1 and f"The final choice of {name!r} is being made by " in said[0]
    assert said[0].endswith("; waiting for it.") and "(pid " in said[0]
    made = [i for i in (0, 1) if (tmp_path / f"out{i}" / "models").is_dir()]
    assert len(made) == 1
    for i in (0, 1):
        assert json.loads((tmp_path / f"out{i}" / "final.json").read_text())["test_metric"] \
            == finals[0]["test_metric"]
    assert claim_value(url, name) is None


def quick_heartbeat(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HPSTUDY_HEARTBEAT_S", "1")
    monkeypatch.setenv("HPSTUDY_GRACE_S", "3")


def test_a_dead_makers_claim_is_taken_over(tmp_path, monkeypatch):
    """A claim that does not beat for the grace period (its process was killed) is taken over:
    the report says whose claim it waited on, then makes the choice itself."""
    quick_heartbeat(monkeypatch)
    url = default_url(tmp_path / "db")
    name = finished_study(tmp_path, url)
    store = Store(url)
    dead = json.dumps({"host": "gone-host", "pid": 4242, "token": "t", "since": "then",
                       "beat": 0})
    assert store.retry(lambda: final_claim.insert_or_read(store.load(name), dead)) is None
    said: list[str] = []
    started = time.monotonic()
    made = final.final_choice(store, name, tmp_path / "out", on_wait=said.append)
    assert made is not None and made["params"]["width"] == 8
    assert time.monotonic() - started >= 3
    assert said == [f"The final choice of {name!r} is being made by gone-host (pid 4242) "
                    "since then; waiting for it."]
    assert store.load(name).user_attrs["final"]["test_metric"] == made["test_metric"]
    assert claim_value(url, name) is None
    store.close()


def test_a_living_makers_claim_is_waited_for(tmp_path, monkeypatch):
    """While the maker beats, a waiter waits past the grace period and never tests; when the
    maker stores its choice, the waiter returns it."""
    quick_heartbeat(monkeypatch)
    url = default_url(tmp_path / "db")
    name = finished_study(tmp_path, url)
    calls = count_test_evaluations(monkeypatch, threading.Event())
    maker = Store(url)
    got: list[dict[str, Any] | None] = []

    def waiter() -> None:
        store = Store(url)
        try:
            got.append(final.final_choice(store, name, tmp_path / "out", on_wait=print))
        finally:
            store.close()

    with final_claim.FinalClaim(maker, name) as claim:
        assert claim.stored is None
        thread = threading.Thread(target=waiter)
        thread.start()
        time.sleep(7)  # more than twice the grace period
        assert thread.is_alive() and calls == [] and got == []
        assert claim_value(url, name)["beat"] >= 5
        stored = {"rule": "best", "params": {"width": 8}, "test_metric": 1.5}
        maker.load(name).set_user_attr("final", stored)
    thread.join(60)
    assert got == [stored] and calls == []
    assert json.loads((tmp_path / "out" / "final.json").read_text()) == stored
    maker.close()


def test_the_claim_is_a_study_user_attribute_optuna_reads(tmp_path):
    """The claim lives in Optuna's own table: optuna.load_study sees it while it is held."""
    url = default_url(tmp_path / "db")
    name = finished_study(tmp_path, url)
    store = Store(url)
    with final_claim.FinalClaim(store, name):
        held = optuna.load_study(study_name=name, storage=url).user_attrs[final_claim.KEY]
        assert held["pid"] > 0 and held["host"]
    assert final_claim.KEY not in optuna.load_study(study_name=name, storage=url).user_attrs
    store.close()


def test_a_waiter_without_a_rule_takes_the_makers_rule(tmp_path):
    """A report that names no rule, waiting on a maker that chose by `fast`, returns the
    maker's choice: no rule asked means the stored one's, as for a choice stored earlier."""
    url = default_url(tmp_path / "db")
    name = finished_study(tmp_path, url)
    maker = Store(url)
    got: list[dict[str, Any] | None] = []
    errors: list[str] = []

    def waiter() -> None:
        store = Store(url)
        try:
            got.append(final.final_choice(store, name, tmp_path / "out", on_wait=print))
        except Exception as exc:  # reported below
            errors.append(str(exc))
        finally:
            store.close()

    with final_claim.FinalClaim(maker, name):
        thread = threading.Thread(target=waiter)
        thread.start()
        time.sleep(1.5)
        stored = {"rule": "fast", "tolerance": 0.01, "params": {"width": 8}, "test_metric": 1.5}
        maker.load(name).set_user_attr("final", stored)
    thread.join(60)
    assert errors == [] and got == [stored]
    maker.close()
