"""Many workers and hard faults, through the real command line in subprocesses.

Against PostgreSQL (marked `postgres`, see tests/conftest.py): three workers on one study, a
worker killed with SIGKILL mid-training, a database restart mid-study, processes opening a new
database at once. On a local SQLite file: four workers at once, and a worker dying right after
it claimed a training. Each test ends with every configuration trained exactly once, and no
output or stored attribute holding the database password.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import optuna
import pytest
import sqlalchemy
from optuna.trial import TrialState

from hpstudy.cli import main
from hpstudy.study import queue
from hpstudy.study.reader import STALE_MESSAGE
from hpstudy.study.runner import create_or_resume, prepare
from hpstudy.study.spec import load_spec
from hpstudy.study.storage import Store, default_url, engine_url
from hpstudy.tasks import get_task

HPSTUDY = [sys.executable, "-m", "hpstudy"]
pytestmark = pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning")


class Proc:
    """An `hpstudy` subprocess whose stdout and stderr go to files."""

    def __init__(self, args: list[str], folder: Path, label: str, env: dict[str, str]):
        self.out, self.err = folder / f"{label}.out", folder / f"{label}.err"
        with open(self.out, "wb") as out, open(self.err, "wb") as err:
            self.popen = subprocess.Popen([*HPSTUDY, *args], cwd=folder, stdout=out, stderr=err,
                                          env=os.environ | {"PYTHONUNBUFFERED": "1"} | env)

    def wait(self, timeout: float = 240) -> int:
        try:
            return self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            self.popen.wait()
            pytest.fail(f"{self.popen.args} still ran after {timeout} s:\n{self.text()}")

    def text(self) -> str:
        return self.out.read_text(errors="replace") + self.err.read_text(errors="replace")


@pytest.fixture
def procs(tmp_path: Path):
    """Starts `hpstudy` subprocesses; kills any still running at the end of the test."""
    started: list[Proc] = []

    def start(*args: str, label: str, env: dict[str, str] | None = None) -> Proc:
        proc = Proc(list(args), tmp_path, label, env or {})
        started.append(proc)
        return proc

    yield start
    for proc in started:
        if proc.popen.poll() is None:
            proc.popen.kill()
            proc.popen.wait()


def wait_until(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.2)


def states(store: Store, name: str) -> Counter[TrialState]:
    if not store.exists(name):
        return Counter()
    return Counter(t.state for t in store.load(name).get_trials(deepcopy=False))


def study_file(folder: Path, name: str, widths: list[int], epochs: int) -> Path:
    """An ablation over `width` on houses: one training (~epochs/80 s) per width."""
    path = folder / f"{name}.toml"
    path.write_text(f'name = "{name}"\ntask = "houses"\nstrategy = "ablation"\n'
                    f"[defaults]\nbatch_size = 8\nlayers = 2\nepochs = {epochs}\n"
                    f"width = {widths[0]}\n[space]\nwidth = {widths}\n")
    return path


def create(url: str, path: Path) -> Store:
    """Create the study of the file `path` in `url` (as `hpstudy run` would), queue included."""
    store = Store(url)
    create_or_resume(store, prepare(load_spec(str(path)), get_task("houses"), False))
    return store


def trials_json(url: str, name: str, capsys: pytest.CaptureFixture[str], *extra: str
                ) -> tuple[list[dict], str]:
    assert main(["trials", "--storage", url, "--study", name, "--format", "json", *extra]) == 0
    captured = capsys.readouterr()
    return json.loads(captured.out), captured.out + captured.err


def assert_trained_once(store: Store, name: str, expected: int) -> None:
    """Every configuration completed exactly once; nothing left waiting or running."""
    trials = store.load(name).get_trials(deepcopy=False)
    done = [(t.user_attrs["config_id"], t.user_attrs["seed"]) for t in trials
            if t.state == TrialState.COMPLETE]
    assert len(done) == len(set(done)) == expected, Counter(done).most_common(3)
    left = [t.number for t in trials if t.state in (TrialState.WAITING, TrialState.RUNNING)]
    assert left == []


def assert_secret_kept(postgres, *texts: str) -> None:
    """The password is in no output and nowhere in the database."""
    password = postgres.password
    assert password and len(password) >= 8
    for text in texts:
        assert password not in text
    stored = postgres.dump()
    assert "houses" in stored  # the dump holds the studies
    assert password not in stored


def fresh(store: Store, name: str) -> None:
    """Delete the study `name` (a server database may hold one from an earlier run)."""
    if store.exists(name):
        optuna.delete_study(study_name=name, storage=store.storage)


@pytest.mark.postgres
def test_three_workers_train_each_configuration_once(postgres, procs, capsys, tmp_path):
    """`hpstudy run` and two `hpstudy worker`s share houses-seed: 23 trainings, each once;
    `hpstudy report --storage` then writes the report with its final choice."""
    url, name = postgres.url, "houses-seed"
    store = Store(url)
    fresh(store, name)
    run = procs("run", "houses-seed", "--storage", url, "--epoch-scale", "0.5", "--jobs", "1",
                label="run")
    wait_until(lambda: store.exists(name), 60, "the study to be created")
    workers = [procs("worker", "--storage", url, "--study", name, label=f"worker{i}")
               for i in range(2)]
    assert run.wait() == 0, run.text()
    for worker in workers:
        assert worker.wait() == 0, worker.text()
    assert_trained_once(store, name, 23)
    rows, listing = trials_json(url, name, capsys)
    assert len(rows) == 23 and {r["status"] for r in rows} == {"complete"}
    done_by_workers = [int(w.err.read_text().split("worker finished: ")[1].split()[0])
                       for w in workers]
    assert sum(done_by_workers) >= 1  # the joined workers took part
    report_dir = tmp_path / "report"
    assert main(["report", "--storage", url, "--study", name, "--out", str(report_dir)]) == 0
    printed = capsys.readouterr().out
    assert "houses-seed: final choice (best)" in printed
    assert "on the finished study (23 trainings)" in printed
    assert json.loads((report_dir / "final.json").read_text())["test_metric"] > 0
    files = {p.name for p in report_dir.iterdir()}
    assert {"report.md", "report.html", "report.tex", "final.json", "tables", "figures",
            "models"} <= files
    texts = [p.read_text() for p in report_dir.rglob("*") if p.suffix in (".md", ".html",
                                                                          ".tex", ".json")]
    assert_secret_kept(postgres, listing, run.text(), printed, *texts,
                       *(w.text() for w in workers))
    store.close()


def run_and_kill_a_worker(procs, url: str, path: Path, name: str, running: int):
    """`hpstudy run` (one worker) and a second `hpstudy worker` on the study, the second
    killed with SIGKILL once at least `running` trainings are running; returns the store, the
    run, which has exited 0, and the killed worker (short heartbeats, so the killed worker's
    trainings go stale quickly)."""
    env = {"HPSTUDY_HEARTBEAT_S": "1", "HPSTUDY_GRACE_S": "3"}
    store = create(url, path)  # so that both workers start at once
    run = procs("run", str(path), "--storage", url, "--jobs", "1", label="run", env=env)
    victim = procs("worker", "--storage", url, "--study", name, label="victim", env=env)
    kill_when_training(store, name, victim, running)
    assert run.wait() == 0, run.text()
    return store, run, victim


def kill_when_training(store: Store, name: str, victim: Proc, running: int) -> None:
    """SIGKILL `victim` once at least `running` trainings of the study are running."""
    wait_until(lambda: states(store, name)[TrialState.RUNNING] >= running, 90,
               "both workers to be training")
    time.sleep(0.5)
    assert victim.popen.poll() is None
    victim.popen.send_signal(signal.SIGKILL)
    assert victim.wait() == -signal.SIGKILL


def ended_once(store: Store, name: str, trainings: int, failed: int
               ) -> list[optuna.trial.FrozenTrial]:
    """The study's ended trials, after checking that each of its `trainings` ended exactly
    once, none is left waiting or running, and at least `failed` attempts failed (the killed
    worker's)."""
    trials = store.load(name).get_trials(deepcopy=False)
    ended = [t for t in trials if t.state in (TrialState.COMPLETE, TrialState.PRUNED)]
    keys = [(t.user_attrs["config_id"], t.user_attrs["seed"]) for t in ended]
    assert len(keys) == len(set(keys)) == trainings, Counter(keys).most_common(3)
    assert not [t for t in trials if t.state in (TrialState.WAITING, TrialState.RUNNING)]
    assert sum(t.state == TrialState.FAIL for t in trials) >= failed
    statuses = {t.user_attrs["result"]["status"] for t in ended}
    assert statuses <= {"complete", "pruned", "diverged"}, statuses
    return ended


@pytest.mark.postgres
def test_killed_worker_training_is_retried(postgres, procs, capsys, tmp_path):
    """A worker killed with SIGKILL mid-training: its training goes stale (no heartbeat), is
    failed and trained again by the other worker; the run exits 0."""
    name = f"kill-{uuid.uuid4().hex[:8]}"
    url = postgres.url
    path = study_file(tmp_path, name, [16, 8, 24, 32, 12], epochs=200)
    store, run, victim = run_and_kill_a_worker(procs, url, path, name, running=2)
    assert_trained_once(store, name, 5)
    attempts, listing = trials_json(url, name, capsys, "--all")
    failed = [r for r in attempts if r["status"] == "failed"]
    assert len(failed) == 1 and failed[0]["error"] == STALE_MESSAGE
    retried = [r for r in attempts if r["params"] == failed[0]["params"]]
    assert [r["status"] for r in retried] == ["failed", "complete"]
    assert len(attempts) == 6
    assert_secret_kept(postgres, listing, run.text(), victim.text())
    store.close()


@pytest.mark.postgres
def test_database_restart_mid_study(postgres, procs, capsys, tmp_path):
    """The database goes down for 3 s mid-study: workers retry with backoff and finish."""
    postgres.check_restartable()
    name = f"restart-{uuid.uuid4().hex[:8]}"
    url = postgres.url
    path = study_file(tmp_path, name, [16, 8, 24, 32, 12, 20, 28, 40], epochs=60)
    store = create(url, path)
    run = procs("run", str(path), "--storage", url, "--jobs", "1", label="run")
    worker = procs("worker", "--storage", url, "--study", name, label="worker")
    wait_until(lambda: states(store, name)[TrialState.COMPLETE] >= 1, 90,
               "a first finished training")
    assert states(store, name)[TrialState.WAITING] >= 2
    store.close()
    postgres.restart(down_s=3)
    assert run.wait() == 0, run.text()
    assert worker.wait() == 0, worker.text()
    outputs = run.text() + worker.text()
    assert "database unavailable" in outputs  # the outage was seen, and retried
    assert "Traceback" not in outputs
    store = Store(url)
    assert_trained_once(store, name, 8)
    rows, listing = trials_json(url, name, capsys, "--all")
    assert [r["status"] for r in rows] == ["complete"] * 8
    assert_secret_kept(postgres, listing, outputs)
    store.close()


def test_four_workers_on_sqlite_never_lock(procs, capsys, tmp_path):
    """Four worker processes (and one joining) on one SQLite file: no 'database is locked',
    each of the 16 one-epoch trainings completes once."""
    path = tmp_path / "grid.toml"
    path.write_text('name = "grid"\ntask = "houses"\nstrategy = "grid"\n'
                    '[defaults]\nepochs = 1\nlayers = 1\nwidth = 4\n[space]\n'
                    'layers = [1, 2]\nwidth = [4, 8]\n'
                    'activation = ["relu", "tanh", "sigmoid", "leaky_relu"]\n')
    out = tmp_path / "out"
    url = f"sqlite:///{out / 'study.db'}"
    run = procs("run", str(path), "--out", str(out), "--jobs", "4", label="run")
    wait_until(lambda: (out / "study.db").is_file(), 60, "the study database")
    store = Store(url)
    wait_until(lambda: store.exists("grid"), 60, "the study to be created")
    joined = procs("worker", "--storage", url, "--study", "grid", label="joined")
    assert run.wait() == 0, run.text()
    assert joined.wait() == 0, joined.text()
    assert_trained_once(store, "grid", 16)
    rows, listing = trials_json(url, "grid", capsys, "--all")
    assert len(rows) == 16
    for text in (run.text(), joined.text(), listing):
        assert "is locked" not in text and "Traceback" not in text
    store.close()


def test_claim_then_death_goes_stale_and_a_late_result_is_dropped(tmp_path, monkeypatch,
                                                                   caplog):
    """A worker that dies right after claiming (before its worker loop beats) still leaves a
    stale trial that is failed and queued again; a worker that was only cut off past the grace
    period and then records its result gets a warning, not a crash."""
    monkeypatch.setenv("HPSTUDY_HEARTBEAT_S", "1")
    monkeypatch.setenv("HPSTUDY_GRACE_S", "2")
    store = Store(default_url(tmp_path))
    spec = load_spec("houses-seed").with_overrides(None, 0.02)
    study = create_or_resume(store, prepare(spec, get_task("houses"), False))
    first = queue.waiting(study)[0]
    assert queue.claim(store, study, [first.trial_id]) == [first.trial_id]
    time.sleep(3.5)
    queue.fail_stale(store, study)
    trials = study.get_trials(deepcopy=False)
    assert trials[first.number].state == TrialState.FAIL
    retry = [t for t in trials if t.system_attrs.get("failed_trial") == first.number]
    assert [t.state for t in retry] == [TrialState.WAITING]
    assert {k: retry[0].user_attrs[k] for k in ("params", "seed", "slot")} == first.user_attrs
    queue.record(store, study, [(first.trial_id, {"status": "complete", "val_metric": 0.5})])
    assert "given up as stale" in caplog.text
    assert study._storage.get_trial(first.trial_id).state == TrialState.FAIL
    store.close()


@pytest.mark.postgres
def test_processes_opening_a_new_database_at_once(postgres):
    """Six processes (threads here) open a new, empty database at the same moment: all of them
    get a working storage (creating the tables collides; the losers try again)."""
    schema = f"fresh_{uuid.uuid4().hex[:8]}"
    admin = sqlalchemy.create_engine(engine_url(postgres.url))
    with admin.begin() as connection:
        connection.execute(sqlalchemy.text(f"CREATE SCHEMA {schema}"))
    url = postgres.url + ("&" if "?" in postgres.url else "?") + \
        f"options=-csearch_path%3D{schema}"
    barrier, errors = threading.Barrier(6), []

    def open_store() -> None:
        barrier.wait()
        try:
            store = Store(url)
            assert not store.exists("nothing")
            store.close()
        except Exception as exc:  # reported below
            errors.append(f"{type(exc).__name__}: {exc}")

    threads = [threading.Thread(target=open_store) for _ in range(6)]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(120)
        assert errors == []
    finally:
        with admin.begin() as connection:
            connection.execute(sqlalchemy.text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()


def pruned_study_file(folder: Path, name: str) -> Path:
    """A grid on houses with median pruning, two seeds: one stacked group per width. No rule
    judges before epoch 50 (seconds into a group), so a worker killed once both workers
    train is always mid-training, never between two groups that pruning ended early."""
    path = folder / f"{name}.toml"
    path.write_text(f'name = "{name}"\ntask = "houses"\nstrategy = "grid"\nrepeats = 2\n'
                    "[defaults]\nbatch_size = 8\nlayers = 2\nepochs = 150\nwidth = 16\n"
                    "[space]\nwidth = [16, 8, 24]\nlr = [0.001, 0.0002, 0.003]\n"
                    '[pruning]\npruner = "median"\nmin_epochs = 50\nwarmup_trials = 2\n')
    return path


@pytest.mark.postgres
def test_killed_worker_with_pruning_loses_and_repeats_nothing(postgres, procs, capsys,
                                                              tmp_path):
    """Two workers on a pruned study, one killed with SIGKILL mid-training: every training
    ends complete, pruned or diverged exactly once, and the seeds of each configuration stop
    together (a diverged seed stops on its own)."""
    name = f"prune-kill-{uuid.uuid4().hex[:8]}"
    url = postgres.url
    path = pruned_study_file(tmp_path, name)
    # a group is at most 6 trainings: 7 running means both workers train (a seed that
    # diverges is recorded at once, so all 12 need not be running together)
    store, run, _ = run_and_kill_a_worker(procs, url, path, name, running=7)
    # the victim's group failed, less what it recorded before the kill (a diverged seed)
    ended = ended_once(store, name, trainings=18, failed=1)
    assert any(t.user_attrs["result"]["status"] == "pruned" for t in ended)
    by_config: dict[str, set] = {}
    for t in ended:
        result = t.user_attrs["result"]
        by_config.setdefault(t.user_attrs["config_id"], set()).add(
            (result["status"], result["epochs_run"]))
    split = {cid: ends for cid, ends in by_config.items()
             if len(ends) > 1 and "diverged" not in {status for status, _ in ends}}
    assert not split, split
    store.close()


@pytest.mark.postgres
def test_killed_worker_of_a_random_pruned_study_loses_and_repeats_nothing(postgres, procs,
                                                                          tmp_path):
    """Random draws with pruning: two `hpstudy worker`s each fill their share of the open
    slots at once (half of those open) and one is killed with SIGKILL mid-training; the other
    trains what the victim held, and every drawn configuration's seeds end once each."""
    name = f"prune-random-kill-{uuid.uuid4().hex[:8]}"
    url = postgres.url
    path = tmp_path / f"{name}.toml"
    path.write_text(f'name = "{name}"\ntask = "houses"\nstrategy = "random"\nrepeats = 2\n'
                    "seed = 0\n[defaults]\nbatch_size = 8\nlayers = 2\nepochs = 100\n"
                    "[space]\nwidth = {low = 8, high = 24}\n"
                    "lr = {low = 0.0002, high = 0.003, log = true}\n[budget]\nn_trials = 8\n"
                    '[pruning]\npruner = "median"\nmin_epochs = 50\nwarmup_trials = 2\n')
    env = {"HPSTUDY_HEARTBEAT_S": "1", "HPSTUDY_GRACE_S": "3"}
    store = create(url, path)
    survivor = procs("worker", "--storage", url, "--study", name, label="survivor", env=env)
    victim = procs("worker", "--storage", url, "--study", name, label="victim", env=env)
    # the first to take fills 4 slots (8 trainings), the other 2 (4 trainings): 9 running
    # means both train; no rule judges before epoch 50, so the victim is mid-training
    kill_when_training(store, name, victim, running=9)
    assert survivor.wait() == 0, survivor.text()
    ended_once(store, name, trainings=16, failed=1)  # the victim's, less what it recorded
    store.close()
