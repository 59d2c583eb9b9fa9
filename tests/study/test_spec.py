"""Study files: presets load, malformed files give one line naming the key, nothing written."""

import pytest

from hpstudy.cli import main
from hpstudy.errors import ConfigError
from hpstudy.study.spec import load_spec, parse_spec, preset_names, validate_for_task
from hpstudy.tasks import get_task

VALID = """
name = "s"
task = "houses"
strategy = "ablation"
[space]
lr = [0.001, 0.01]
"""

MALFORMED = [
    ('name = "s"\ntask = "houses"\n[space\n', "not valid TOML"),
    ("colour = 3\n" + VALID, "unknown key 'colour'"),
    ('task = "houses"\n', "'name' is required"),
    ('name = "s"\ntask = "houses"\nstrategy = "bayes"\n', "'strategy' must be one of"),
    ('name = "s"\ntask = "houses"\n[space]\ndepth = [1, 2]\n', "unknown hyperparameter 'depth'"),
    ('name = "s"\ntask = "houses"\n[space]\nlr = []\n', "'space.lr' is empty"),
    ('name = "s"\ntask = "houses"\n[space]\nlr = 0.1\n', "'space.lr' must be a list"),
    ('name = "s"\ntask = "houses"\n[space]\nlayers = [1, "two"]\n', "'layers' hyperparameter"),
    ('name = "s"\ntask = "houses"\n[space]\nlr = [-1.0]\n', "'lr' hyperparameter must be"),
    ('name = "s"\ntask = "houses"\n[defaults]\nactivation = "swish"\n', "'activation'"),
    ('name = "s"\ntask = "houses"\nstrategy = "tpe"\n[space]\nlr = [0.1]\n', "n_trials"),
    ('name = "s"\ntask = "houses"\nstrategy = "random"\n[space]\nlr = [0.1]\n', "n_trials"),
    ('name = "s"\ntask = "houses"\nrepeats = 0\n', "'repeats' must be an int >= 1"),
    ('name = "s"\ntask = "houses"\n[budget]\nn_trials = "many"\n', "budget.n_trials"),
    ('name = "s"\ntask = "houses"\n[budget]\nminutes = 3\n', "unknown key 'budget.minutes'"),
    ('name = "../up"\ntask = "houses"\n', "'name' must be letters"),
    ('name = "s"\ntask = "nope"\n', "Unknown task 'nope'"),
    ('name = "s"\ntask = "houses"\n[space]\nseed = [1, 2]\n', "'space.seed' is not allowed"),
]


def test_presets_are_listed_and_load():
    """Both report presets exist and parse."""
    assert {"usps-seed", "houses-seed"} <= set(preset_names())
    spec = load_spec("usps-seed")
    assert spec.task == "usps" and spec.space["lr"] == [0.001, 0.01, 0.1, 1.0]


def test_unknown_preset_is_an_error():
    """An unknown preset name says so and lists the presets."""
    with pytest.raises(ConfigError, match="Unknown preset 'nope'.*usps-seed"):
        load_spec("nope")


def test_validate_converts_int_to_float():
    """`lr = [1]` is accepted as the float 1.0."""
    spec = validate_for_task(
        parse_spec({"name": "s", "task": "houses", "space": {"lr": [1]}}), get_task("houses")
    )
    assert spec.space["lr"] == [1.0] and isinstance(spec.space["lr"][0], float)


@pytest.mark.parametrize(("text", "message"), MALFORMED)
def test_run_malformed_file_one_line_exit_2_nothing_written(tmp_path, capsys, text, message):
    """Each malformed study file: exit 2, one line naming the problem, no output written."""
    path = tmp_path / "study.toml"
    path.write_text(text)
    out = tmp_path / "out"
    code = main(["run", str(path), "--out", str(out), "--quiet"])
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and message in err, err
    assert not out.exists()
