"""A task of one's own, exactly as the README shows it, loaded with --task-module."""

import json
import re
from pathlib import Path

from hpstudy.cli import main

README = Path(__file__).parents[1] / "README.md"


def readme_example(tmp_path: Path) -> Path:
    match = re.search(r"```python\n(# mytask\.py\n.*?)```", README.read_text(), re.S)
    assert match, "the README lost its task example"
    path = tmp_path / "mytask.py"
    path.write_text(match.group(1))
    return path


def test_readme_task_trains_with_task_module(tmp_path, capsys):
    """The README's example task trains through `hpstudy train --task-module`."""
    path = readme_example(tmp_path)
    code = main(["train", "sine", "--task-module", str(path), "--set", "width=8",
                 "--set", "epochs=3", "--json"])
    data = json.loads(capsys.readouterr().out)
    assert code == 0 and data["task"] == "sine" and data["epochs_run"] == 3
    assert data["val_metric"] < 1.0


def test_readme_task_runs_a_study(tmp_path, capsys):
    """A study file naming the custom task runs with --task-module."""
    path = readme_example(tmp_path)
    spec = tmp_path / "s.toml"
    spec.write_text('name = "sine-lr"\ntask = "sine"\n[defaults]\nepochs = 2\n'
                    '[space]\nlr = [0.001, 0.01]\n')
    out = tmp_path / "o"
    assert main(["run", str(spec), "--out", str(out), "--task-module", str(path), "--quiet",
                 "--jobs", "1"]) == 0
    assert main(["trials", str(out), "--format", "json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert len(rows) == 2 and {r["status"] for r in rows} == {"complete"}


def test_task_module_missing_is_one_line(capsys):
    """A --task-module that does not exist: exit 2, one line."""
    assert main(["train", "sine", "--task-module", "/no/such/task.py"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "does not exist" in err


def test_a_model_without_trainable_parameters_is_a_clear_error(tmp_path, capsys):
    """A task whose model has nothing to train gets one line and exit code 2, no traceback."""
    path = readme_example(tmp_path)
    source = path.read_text().replace(
        "return nn.Sequential(*layers, nn.Linear(size, 1))",
        "return nn.Sequential(*layers, nn.Linear(size, 1)).requires_grad_(False)")
    path.write_text(source)
    code = main(["train", "sine", "--task-module", str(path), "--set", "epochs=1"])
    err = capsys.readouterr().err
    assert code == 2
    assert "no trainable parameters" in err and "Traceback" not in err
