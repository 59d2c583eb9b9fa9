"""The final choice waits for the study; a stored choice is never re-made for another rule;
reports and the dashboard read any storage.

Trainings here are recorded with chosen validation numbers (so that which configuration is
best is known) except in the mid-study test, where a real `hpstudy run` trains in a second
process while `hpstudy report` is taken.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from hpstudy.cli import main
from hpstudy.study import final, queue
from hpstudy.study.runner import create_or_resume, prepare
from hpstudy.study.spec import load_spec
from hpstudy.study.storage import Store, default_url
from hpstudy.tasks import get_task

HPSTUDY = [sys.executable, "-m", "hpstudy"]
WIDTHS = [16, 8, 24, 32, 12]


def study_file(folder: Path, name: str = "w", epochs: int = 2, widths: list[int] = WIDTHS
               ) -> Path:
    """A houses ablation over `width`: one training per width."""
    path = folder / f"{name}.toml"
    path.write_text(f'name = "{name}"\ntask = "houses"\nstrategy = "ablation"\n'
                    f"[defaults]\nlayers = 1\nepochs = {epochs}\nwidth = {widths[0]}\n"
                    f"[space]\nwidth = {widths}\n")
    return path


@pytest.fixture
def queued(tmp_path: Path) -> tuple[Path, Store]:
    """A created study (five trainings queued, none run) in tmp_path/s."""
    out = tmp_path / "s"
    store = Store(default_url(out))
    create_or_resume(store, prepare(load_spec(str(study_file(tmp_path))), get_task("houses"),
                                    False))
    return out, store


def finish(store: Store, mse_by_width: dict[int, float]) -> None:
    """Record the trainings of these widths as complete with these validation MSEs."""
    study = store.load("w")
    for item in queue.waiting(study):
        width = item.user_attrs["params"]["width"]
        if width not in mse_by_width:
            continue
        assert queue.claim(store, study, [item.trial_id]) == [item.trial_id]
        mse = mse_by_width[width]
        queue.record(store, study, [(item.trial_id, {
            "status": "complete", "val_metric": mse, "train_metric": mse, "val_loss": mse,
            "train_loss": mse, "train_time_s": width / 10, "epochs_run": 2,
            "curves": {"val_metric": [2 * mse, mse], "train_loss": [1.0, mse],
                       "val_loss": [1.0, mse]}})])


def report(out: Path, capsys: pytest.CaptureFixture[str], *extra: str) -> tuple[int, str, str]:
    code = main(["report", str(out), "--format", "md,csv", *extra])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def forbid_test_evaluation(monkeypatch: pytest.MonkeyPatch) -> None:
    def forbidden(*args: object, **kwargs: object) -> None:
        raise AssertionError("the test set was evaluated a second time")
    monkeypatch.setattr(final, "evaluate_on_test", forbidden)


def test_report_of_an_unfinished_study_waits(queued, capsys):
    """Trainings remain: the report is written with provisional candidates, no test number,
    nothing stored; the output says how many trainings remain."""
    out, store = queued
    finish(store, {16: 0.5, 8: 0.3})
    code, printed, err = report(out, capsys)
    assert code == 0, err
    assert "w: 3 of 5 trainings remain (3 waiting); the final choice" in printed
    assert "--final-now" in printed
    assert not (out / "final.json").exists() and not (out / "models").exists()
    assert store.load("w").user_attrs.get("final") is None
    text = (out / "report.md").read_text()
    assert "Provisional: 3 of 5 trainings remain (3 waiting)" in text
    assert "provisional final-choice candidates" in text
    assert "Test MSE" not in text


def test_final_now_chooses_and_says_on_how_many(queued, capsys):
    """--final-now makes the choice mid-study; the report says on N of M trainings."""
    out, store = queued
    finish(store, {16: 0.5, 8: 0.3, 24: 0.4})
    code, printed, err = report(out, capsys, "--final-now")
    assert code == 0, err
    stored = json.loads((out / "final.json").read_text())
    assert stored["params"]["width"] == 8 and stored["test_metric"] > 0
    assert stored["made_on"] == {"finished": 3, "failed": 0, "waiting": 2, "running": 0,
                                 "upcoming": 0, "remaining": 2, "total": 5}
    assert "on 3 of 5 trainings" in printed
    text = (out / "report.md").read_text()
    assert "This choice was made on 3 of 5 trainings (forced with --final-now)" in text
    assert re.search(r"Test MSE: \d", text)


@pytest.mark.parametrize(("later", "says"), [
    ({32: 0.1, 12: 0.9}, "rule 'best' now picks another configuration: width=32"),
    ({32: 0.6, 12: 0.9}, "rule 'best' now picks the same configuration: width=8"),
])
def test_trainings_after_the_choice_are_reported(queued, capsys, monkeypatch, later, says):
    """Trainings that finish after a forced choice are counted, the current best is compared
    with the choice, and the test set is not evaluated again."""
    out, store = queued
    finish(store, {16: 0.5, 8: 0.3, 24: 0.4})
    assert report(out, capsys, "--final-now")[0] == 0
    before = json.loads((out / "final.json").read_text())
    finish(store, later)
    forbid_test_evaluation(monkeypatch)
    code, printed, err = report(out, capsys)
    assert code == 0, err
    assert "2 training(s) finished after the final choice" in printed
    assert json.loads((out / "final.json").read_text()) == before
    text = (out / "report.md").read_text()
    assert f"2 training(s) finished after the final choice; {says}" in text
    assert "The test set is not evaluated again" in text


def test_a_finished_study_is_chosen_once(queued, capsys, monkeypatch):
    """Once every training finished, the report makes the choice (on the finished study);
    the next reports show it without a second test evaluation."""
    out, store = queued
    finish(store, {16: 0.5, 8: 0.3, 24: 0.4, 32: 0.6, 12: 0.7})
    code, printed, _ = report(out, capsys)
    assert code == 0 and "on the finished study (5 trainings)" in printed
    stored = json.loads((out / "final.json").read_text())
    assert stored["made_on"]["remaining"] == 0 and stored["rule"] == "best"
    forbid_test_evaluation(monkeypatch)
    code, again, _ = report(out, capsys, "--rule", "best")
    assert code == 0 and json.loads((out / "final.json").read_text()) == stored
    assert again.splitlines()[0] == printed.splitlines()[0]
    assert "after the final choice" not in again


@pytest.mark.parametrize(("first", "then", "stored"), [
    (["--rule", "best"], ["--rule", "fast"], "rule 'best'"),
    (["--rule", "fast"], ["--rule", "best"], "rule 'fast' (tolerance 0.01)"),
    (["--rule", "fast"], ["--tolerance", "0.5"], "rule 'fast' (tolerance 0.01)"),
])
def test_another_rule_after_the_choice_is_one_line(queued, capsys, monkeypatch, first, then,
                                                   stored):
    """Another rule (or, for fast, another tolerance) than the stored choice's: one line
    naming the stored rule, its date and why, exit 2; --no-final still writes the report."""
    out, store = queued
    finish(store, {16: 0.5, 8: 0.3, 24: 0.4, 32: 0.6, 12: 0.7})
    assert report(out, capsys, *first)[0] == 0
    before = json.loads((out / "final.json").read_text())
    (out / "report.md").unlink()
    forbid_test_evaluation(monkeypatch)
    code, printed, err = report(out, capsys, *then)
    assert code == 2 and printed == "" and err.count("\n") == 1
    assert err.startswith("error: Study 'w' already has its final choice and its one test "
                          f"evaluation: {stored}, made ")
    assert re.search(r"made \d{4}-\d\d-\d\d \d\d:\d\d UTC on the finished study", err)
    assert "second look at the test set" in err and "--no-final" in err
    assert not (out / "report.md").exists()
    code, printed, err = report(out, capsys, *then, "--no-final")
    assert code == 0, err
    assert "Chosen by " + stored in (out / "report.md").read_text()
    assert json.loads((out / "final.json").read_text()) == before


def test_tolerance_is_free_for_a_best_choice(queued, capsys, monkeypatch):
    """The tolerance only matters to the fast rule: with a stored best choice it is accepted."""
    out, store = queued
    finish(store, {16: 0.5, 8: 0.3, 24: 0.4, 32: 0.6, 12: 0.7})
    assert report(out, capsys)[0] == 0
    forbid_test_evaluation(monkeypatch)
    assert report(out, capsys, "--tolerance", "0.5")[0] == 0


def test_report_from_a_storage_url(queued, capsys, tmp_path):
    """`report --storage URL --study NAME --out DIR` writes the report where --out says."""
    out, store = queued
    finish(store, {16: 0.5, 8: 0.3, 24: 0.4, 32: 0.6, 12: 0.7})
    target = tmp_path / "elsewhere"
    assert main(["report", "--storage", default_url(out), "--study", "w", "--out",
                 str(target), "--format", "md,html,csv"]) == 0
    assert json.loads((target / "final.json").read_text())["params"]["width"] == 8
    assert (target / "report.html").is_file() and list((target / "tables").glob("*.csv"))
    assert sorted(p.name for p in (target / "models").iterdir()) == ["seed0.pt"]
    assert not (out / "final.json").exists()


@pytest.mark.parametrize(("args", "message"), [
    (["DIR", "--storage", "URL"], "Give a study directory or --storage URL, not both"),
    ([], "Give a study directory, or --storage URL with --study NAME"),
    (["--storage", "URL", "--study", "nothing"], "No study named 'nothing'"),
    (["--storage", "sqlite:///MISSING/study.db", "--study", "w"], "No study database at"),
])
def test_report_target_errors_are_one_line(queued, capsys, tmp_path, args, message):
    """Wrong ways to name the study: one line, exit 2."""
    out, _ = queued
    values = {"DIR": str(out), "URL": default_url(out)}
    args = [values.get(a, a).replace("MISSING", str(tmp_path / "none")) for a in args]
    assert main(["report", *args]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err


def wait_for(condition, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.2)


def test_report_mid_study_from_a_second_process(tmp_path):
    """`hpstudy report` while `hpstudy run` trains in another process: no test evaluation, the
    trainings left are named; once the run ends, the next report makes the choice, once. The
    run is paused (SIGSTOP to its process group) while the mid-study report reads it, so that a
    loaded machine cannot let the study finish first."""
    path = study_file(tmp_path, epochs=300, widths=[16, 8, 24, 32, 12, 20])
    out = tmp_path / "s"
    env = os.environ | {"PYTHONUNBUFFERED": "1"}
    with open(tmp_path / "run.log", "wb") as log:
        run = subprocess.Popen([*HPSTUDY, "run", str(path), "--out", str(out), "--jobs", "1",
                                "--quiet"], stdout=log, stderr=log, env=env,
                               start_new_session=True)
    try:
        wait_for(lambda: (out / "study.db").is_file(), 60, "the study database")
        store = Store(default_url(out))
        wait_for(lambda: store.exists("w") and
                 any(t.state.name == "COMPLETE" for t in store.load("w").get_trials()),
                 120, "a first finished training")
        os.killpg(run.pid, signal.SIGSTOP)
        try:
            mid = subprocess.run([*HPSTUDY, "report", str(out), "--format", "md"],
                                 capture_output=True, text=True, env=env, timeout=120)
        finally:
            os.killpg(run.pid, signal.SIGCONT)
        assert mid.returncode == 0, mid.stderr
        assert re.search(r"w: \d of 6 trainings remain \(.*\); the final choice and its test "
                         r"evaluation wait for them", mid.stdout), mid.stdout
        assert not (out / "final.json").exists()
        assert "Provisional: " in (out / "report.md").read_text()
        assert run.wait(300) == 0, (tmp_path / "run.log").read_text()
    finally:
        if run.poll() is None:
            run.kill()
            run.wait()
    done = subprocess.run([*HPSTUDY, "report", str(out), "--format", "md"],
                          capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "final choice (best)" in done.stdout
    assert "on the finished study (6 trainings)" in done.stdout
    stored = json.loads((out / "final.json").read_text())
    assert stored["made_on"]["finished"] == 6 and stored["made_on"]["remaining"] == 0
    assert "Provisional" not in (out / "report.md").read_text()
    store.close()


def test_dashboard_serves_a_storage_url(queued, tmp_path):
    """`hpstudy dashboard --storage URL` serves the study (optuna-dashboard's API lists it)."""
    out, store = queued
    port = free_port()
    with open(tmp_path / "dash.log", "wb") as log:
        dash = subprocess.Popen([*HPSTUDY, "dashboard", "--storage", default_url(out), "--port",
                                 str(port)], stdout=log, stderr=log)
    try:
        def listed() -> bool:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/studies",
                                            timeout=2) as answer:
                    return "\"w\"" in answer.read().decode()
            except OSError:
                return dash.poll() is not None
        wait_for(listed, 60, "the dashboard")
        assert dash.poll() is None, (tmp_path / "dash.log").read_text()
    finally:
        dash.terminate()
        dash.wait(10)


def free_port() -> int:
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
