"""examples/digits.py, a task of one's own with a `dropout` of its own, used as a user would:
`train`, `tasks` and a study file, all with --task-module."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hpstudy.cli import main

EXAMPLES = Path(__file__).parents[1] / "examples"
DIGITS = str(EXAMPLES / "digits.py")


def train_json(capsys: pytest.CaptureFixture[str], *sets: str) -> dict:
    capsys.readouterr()
    argv = ["train", "digits", "--task-module", DIGITS, "--json", "--set", "epochs=3"]
    for item in sets:
        argv += ["--set", item]
    assert main(argv) == 0
    return json.loads(capsys.readouterr().out)


def test_digits_trains_with_its_own_dropout(capsys) -> None:
    """`--set dropout=0.3` reaches the model: the training differs from dropout 0 and learns."""
    with_dropout = train_json(capsys, "dropout=0.3")
    without = train_json(capsys, "dropout=0")
    assert with_dropout["params"]["dropout"] == 0.3 and with_dropout["status"] == "ok"
    assert with_dropout["val_metric"] > 80.0
    assert with_dropout["train_loss"] != without["train_loss"]


@pytest.mark.parametrize(("value", "shown"), [("1.5", "1.5"), ("abc", "'abc'"),
                                              ("-0.1", "-0.1"), ("1", "1")])
def test_bad_dropout_is_one_line_and_exit_2(capsys, value, shown) -> None:
    capsys.readouterr()
    assert main(["train", "digits", "--task-module", DIGITS, "--set", f"dropout={value}"]) == 2
    err = capsys.readouterr().err
    assert err == (f"error: The 'dropout' hyperparameter must be a float in [0, 1). "
                   f"Got {shown}.\n")


def test_tasks_lists_dropout_and_the_trainer_knobs(capsys) -> None:
    """`hpstudy tasks` shows the task's own knob with rule and help, and the trainer's knobs
    for every task."""
    capsys.readouterr()
    assert main(["tasks", "--task-module", DIGITS]) == 0
    out = capsys.readouterr().out
    digits = next(text for text in out.split("usps:") if "digits:" in text)
    assert "dropout" in digits and "a float in [0, 1)" in digits
    assert "probability of zeroing" in digits
    for name in ("schedule", "warmup_epochs", "momentum", "grad_clip"):
        assert out.count(name) >= 3, name  # digits, houses and usps
    assert "onecycle" in out


def test_digits_ablation_over_dropout_and_schedule_runs_and_reports(tmp_path, capsys) -> None:
    """The example study file (dropout x schedule ablation) runs and its report has a table
    per factor with every value."""
    out = tmp_path / "study"
    assert main(["run", str(EXAMPLES / "digits-ablation.toml"), "--task-module", DIGITS,
                 "--out", str(out), "--quiet", "--jobs", "2", "--repeats", "1",
                 "--epoch-scale", "0.2"]) == 0
    assert main(["report", str(out), "--task-module", DIGITS]) == 0
    report = (out / "report.md").read_text()
    assert "#### Impact of dropout" in report and "#### Impact of schedule" in report
    for row in ("| 0.2 |", "| 0.5 |", "| cosine |", "| onecycle |"):
        assert row in report
    final = json.loads((out / "final.json").read_text())
    assert final["test_metric"] > 50.0


def test_digits_tpe_example_samples_its_ranges(tmp_path, capsys) -> None:
    """examples/digits-tpe.toml (fewer trials, 2 epochs): lr, width and dropout are drawn
    inside their ranges, lr off any grid, and the report has a scatter figure per factor."""
    text = (EXAMPLES / "digits-tpe.toml").read_text()
    path = tmp_path / "digits-tpe.toml"
    path.write_text(text.replace("n_trials = 30", "n_trials = 6") + "[defaults]\nepochs = 2\n")
    out = tmp_path / "out"
    assert main(["run", str(path), "--task-module", DIGITS, "--out", str(out), "--quiet"]) == 0
    capsys.readouterr()
    assert main(["trials", str(out), "--format", "json"]) == 0
    params = [row["params"] for row in json.loads(capsys.readouterr().out)]
    assert len(params) == 6 and len({p["lr"] for p in params}) == 6
    assert all(1e-4 <= p["lr"] <= 0.1 and 16 <= p["width"] <= 256 and 0 <= p["dropout"] <= 0.6
               and isinstance(p["width"], int) for p in params)
    assert main(["report", str(out), "--task-module", DIGITS, "--no-final"]) == 0
    figures = {p.name for p in (out / "figures").iterdir()}
    assert {f"digits-tpe-scatter-{k}.png" for k in ("lr", "width", "dropout")} <= figures
