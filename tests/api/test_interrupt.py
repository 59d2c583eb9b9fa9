"""An interrupt (Ctrl-C, a notebook's stop button) leaves a resumable study: running
trainings are handed back to the queue at once, and the same call finishes the study."""

import os
import signal
import subprocess
import sys
import time

import optuna
import pytest
from optuna.trial import TrialState

import hpstudy

SCRIPT = """
import os, sys, time
import hpstudy
from hpstudy.tasks.houses import HousesTask

class Slow(HousesTask):
    name = "slow-houses"

    def build_model(self, cfg, splits):
        return super().build_model(cfg, splits)

    def loss(self, cfg, output, target):
        if os.environ.get("SLOW_STEPS"):
            time.sleep(0.02)
        return super().loss(cfg, output, target)

hpstudy.run({"defaults": {"epochs": 5}, "space": {"width": [4, 8, 32]}}, task=Slow(),
            out=sys.argv[1], jobs=2, progress=False)
"""


def states(out) -> list[TrialState]:
    try:
        study = optuna.load_study(study_name="slow-houses-ablation",
                                  storage=f"sqlite:///{out / 'study.db'}")
    except Exception:  # the database or the study is not created yet
        return []
    return [trial.state for trial in study.get_trials(deepcopy=False)]


@pytest.mark.parametrize("target", ["process group", "parent only"])
def test_interrupt_requeues_running_trainings_and_the_run_resumes(tmp_path, target):
    """SIGINT to the whole process group (a terminal, Jupyter) or to the parent alone: no
    training is left running, the interrupted ones are queued again, and a rerun ends with
    every training complete once."""
    out = tmp_path / "o"
    process = subprocess.Popen([sys.executable, "-c", SCRIPT, str(out)],
                               env=os.environ | {"SLOW_STEPS": "1"}, start_new_session=True,
                               stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while TrialState.RUNNING not in states(out):
        assert time.monotonic() < deadline and process.poll() is None, "no training started"
        time.sleep(0.2)
    time.sleep(0.5)
    if target == "process group":
        os.killpg(process.pid, signal.SIGINT)
    else:
        os.kill(process.pid, signal.SIGINT)
    _, err = process.communicate(timeout=60)
    assert process.returncode != 0 and "KeyboardInterrupt" in err
    after = states(out)
    assert TrialState.RUNNING not in after
    assert TrialState.FAIL in after and TrialState.WAITING in after
    study = optuna.load_study(study_name="slow-houses-ablation",
                              storage=f"sqlite:///{out / 'study.db'}")
    failed = [t for t in study.trials if t.state == TrialState.FAIL]
    assert {t.user_attrs["result"]["error"] for t in failed} == {"interrupted; queued again"}
    resumed = subprocess.run([sys.executable, "-c", SCRIPT, str(out)], timeout=300,
                             capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr
    trials = hpstudy.open(out).trials()
    assert len(trials) == 4 and set(trials["status"]) == {"complete"}
    assert sorted(trials["width"]) == [4, 8, 16, 32]
