"""A study stored by hpstudy 0.1.0 (before declared hyperparameters and the trainer's new knobs)
still opens in `status`, `trials` and `report`; running it again is refused with one line."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest

from hpstudy.cli import main

OLD_DB = Path(__file__).parents[1] / "data" / "study-0.1.0.db"
OLD_SPEC = """name = "old-houses"
task = "houses"
strategy = "ablation"
repeats = 2
[defaults]
epochs = 2
width = 8
[space]
lr = [0.001, 0.01]
activation = ["relu", "tanh"]
"""


@pytest.fixture
def old_study(tmp_path: Path) -> Path:
    folder = tmp_path / "old"
    folder.mkdir()
    shutil.copy(OLD_DB, folder / "study.db")
    return folder


def test_old_study_status_and_trials(old_study: Path, capsys) -> None:
    assert main(["status", str(old_study)]) == 0
    assert "6 trainings: 6 complete" in capsys.readouterr().out
    assert main(["trials", str(old_study), "--format", "json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert len(rows) == 6 and {r["params"]["width"] for r in rows} == {8}
    assert all("schedule" not in r["params"] for r in rows)  # shown as stored


def test_old_study_reports_with_its_final_choice(old_study: Path) -> None:
    """The final choice retrains the stored configuration (new knobs at their defaults, which
    are the old behaviour) and evaluates it once."""
    assert main(["report", str(old_study)]) == 0
    final = json.loads((old_study / "final.json").read_text())
    assert final["params"]["width"] == 8 and final["test_metric"] > 0
    assert "Impact of lr" in (old_study / "report.md").read_text()


def test_resuming_an_old_study_is_refused_in_one_line(old_study: Path, tmp_path: Path,
                                                      capsys) -> None:
    spec = tmp_path / "old.toml"
    spec.write_text(OLD_SPEC)
    before = hashlib.sha256((old_study / "study.db").read_bytes()).hexdigest()
    capsys.readouterr()
    assert main(["run", str(spec), "--out", str(old_study), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1 and "made by hpstudy 0.1.0" in err
    assert "use another --out/--storage" in err and "schedule" in err
    assert hashlib.sha256((old_study / "study.db").read_bytes()).hexdigest() == before
