"""A task of one's own, exactly as the README shows it (examples/digits.py), loaded with
--task-module."""

import json
import re
from pathlib import Path

from hpstudy.cli import main

ROOT = Path(__file__).parents[1]
EXAMPLE = ROOT / "examples" / "digits.py"


def test_readme_shows_the_example_file() -> None:
    """The README's "Your own task" code is examples/digits.py (after its docstring)."""
    match = re.search(r"```python\n# examples/digits\.py\n(.*?)```", (ROOT / "README.md")
                      .read_text(), re.S)
    assert match, "the README lost its task example"
    source = EXAMPLE.read_text()
    assert match.group(1) == source[source.index('"""', 3) + 4:].lstrip("\n")


def test_example_task_trains_with_task_module(capsys):
    """The example task trains through `hpstudy train --task-module`."""
    code = main(["train", "digits", "--task-module", str(EXAMPLE), "--set", "width=16",
                 "--set", "epochs=3", "--json"])
    data = json.loads(capsys.readouterr().out)
    assert code == 0 and data["task"] == "digits" and data["epochs_run"] == 3
    assert data["val_metric"] > 50.0


def test_example_task_runs_a_study(tmp_path, capsys):
    """A study file naming the custom task runs with --task-module."""
    spec = tmp_path / "s.toml"
    spec.write_text('name = "digits-lr"\ntask = "digits"\n[defaults]\nepochs = 2\n'
                    '[space]\nlr = [0.001, 0.01]\n')
    out = tmp_path / "o"
    assert main(["run", str(spec), "--out", str(out), "--task-module", str(EXAMPLE),
                 "--quiet", "--jobs", "1"]) == 0
    assert main(["trials", str(out), "--format", "json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert len(rows) == 3 and {r["status"] for r in rows} == {"complete"}  # default 0.003 too
    assert {r["params"]["lr"] for r in rows} == {0.001, 0.003, 0.01}
    assert {r["params"]["dropout"] for r in rows} == {0.0}


def test_task_module_missing_is_one_line(capsys):
    """A --task-module that does not exist: exit 2, one line."""
    assert main(["train", "digits", "--task-module", "/no/such/task.py"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "does not exist" in err


def test_a_model_without_trainable_parameters_is_a_clear_error(tmp_path, capsys):
    """A task whose model has nothing to train gets one line and exit code 2, no traceback."""
    path = tmp_path / "frozen.py"
    path.write_text(EXAMPLE.read_text().replace(
        "return nn.Sequential(*layers, nn.Linear(size, 10))",
        "return nn.Sequential(*layers, nn.Linear(size, 10)).requires_grad_(False)"))
    code = main(["train", "digits", "--task-module", str(path), "--set", "epochs=1"])
    err = capsys.readouterr().err
    assert code == 2
    assert "no trainable parameters" in err and "Traceback" not in err


def test_reading_an_undeclared_hyperparameter_says_what_to_do(tmp_path, capsys):
    """A model that reads `cfg.kernel` without declaring it: one line naming it and the fix."""
    path = tmp_path / "undeclared.py"
    path.write_text(EXAMPLE.read_text().replace("nn.Dropout(cfg.dropout)",
                                                "nn.Dropout(cfg.kernel)"))
    code = main(["train", "digits", "--task-module", str(path), "--set", "epochs=1"])
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert "'kernel'" in err and "declare it in the task's `params`" in err
