"""Study files: presets load, malformed files give one line naming the key, nothing written."""

import json

import pytest

from hpstudy.cli import main
from hpstudy.errors import ConfigError
from hpstudy.study.space import Range
from hpstudy.study.spec import StudySpec, load_spec, parse_spec, preset_names, validate_for_task
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
    ('name = "s"\ntask = "houses"\nseed = -1\n', "'seed' must be an int >= 0"),
]

TPE = 'name = "s"\ntask = "houses"\nstrategy = "tpe"\n[budget]\nn_trials = 3\n[space]\n'
ABLATION = 'name = "s"\ntask = "houses"\n[space]\n'
BAD_RANGES = [
    (TPE + "weight_decay = {low = 0.0, high = 0.1, log = true}\n", "log = true needs low > 0"),
    (TPE + "lr = {low = 0.1, high = 0.001}\n", "needs low <= high. Got low=0.1, high=0.001"),
    (TPE + "lr = {low = -1.0, high = 0.1}\n", "'space.lr.low': The 'lr' hyperparameter must be a"),
    (TPE + "width = {low = 0, high = 64}\n", "'space.width.low': The 'width' hyperparameter"),
    (TPE + "width = {low = 8.5, high = 64}\n", "'width' hyperparameter must be an int"),
    (ABLATION + "lr = {low = 0.001, high = 0.1, log = true}\n",
     "strategy 'ablation' tries finite values; give the range 'n'"),
    ('name = "s"\ntask = "houses"\nstrategy = "grid"\n[space]\nwidth = {low = 8, high = 9}\n',
     "strategy 'grid' tries finite values"),
    (TPE + "lr = {low = 0.001, high = 0.1, n = 3}\n", "strategy 'tpe' samples the range itself"),
    (TPE + "activation = {low = 1, high = 2}\n", "'activation' is not numeric"),
    (TPE + "normalize = {low = 0, high = 1}\n", "'normalize' is not numeric"),
    (TPE + "lr = {low = 0.001}\n", "a range needs 'low' and 'high'"),
    (TPE + "lr = {low = 0.001, high = 0.1, size = 3}\n", "unknown key 'size' in a range"),
    (TPE + "lr = {low = 0.001, high = 0.1, log = 1}\n", "'space.lr'.log must be true or false"),
    (TPE + "lr = {low = 0.001, high = 0.1, log = true, step = 0.01}\n", "'step' or 'log"),
    (TPE + "width = {low = 8, high = 64, step = 0.5}\n", "'space.width.step' must be an int"),
    (TPE + "lr = {low = 0.001, high = 0.1, step = 0}\n", "step must be a number > 0"),
    (ABLATION + "lr = {low = 0.001, high = 0.1, n = 0}\n", "n must be an int >= 1"),
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


@pytest.mark.parametrize(("text", "message"), MALFORMED + BAD_RANGES)
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


def validated(text: str):
    import tomllib
    spec = parse_spec(tomllib.loads(text))
    return validate_for_task(spec, get_task(spec.task))


def test_range_takes_the_hyperparameters_kind():
    """A float range's ends become floats, an int range's stay ints (from the declaration)."""
    spec = validated(TPE + "lr = {low = 1, high = 2}\nwidth = {low = 8, high = 64, log = true}\n")
    lr, width = spec.space["lr"], spec.space["width"]
    assert isinstance(lr, Range) and isinstance(width, Range)
    assert (lr.low, lr.high, lr.is_int) == (1.0, 2.0, False) and isinstance(lr.low, float)
    assert (width.low, width.high, width.is_int, width.log) == (8, 64, True, True)


def test_range_with_n_gives_points_log_spaced_when_log():
    """n points from low to high: geometric with log, linear without; ints rounded, unique."""
    spec = validated(ABLATION + "lr = {low = 0.0001, high = 0.1, log = true, n = 4}\n"
                     "width = {low = 16, high = 256, log = true, n = 5}\n"
                     "layers = {low = 1, high = 3, n = 5}\n")
    assert spec.space["lr"].points() == pytest.approx([1e-4, 1e-3, 1e-2, 1e-1])
    assert spec.space["lr"].points()[0] == 1e-4 and spec.space["lr"].points()[-1] == 0.1
    assert spec.space["width"].points() == [16, 32, 64, 128, 256]
    assert spec.space["layers"].points() == [1, 2, 3]


def test_spec_round_trips_through_storage_form():
    """The stored form (plain data) reads back as an equal StudySpec, ranges included."""
    spec = validated(TPE + "lr = {low = 0.0001, high = 0.1, log = true}\n"
                     "width = {low = 8, high = 64, step = 8}\nactivation = [\"relu\", \"tanh\"]\n")
    data = json.loads(json.dumps(spec.to_dict()))
    assert StudySpec.from_dict(data) == spec
    assert data["seed"] == 0 and data["space"]["lr"]["log"] is True
    old = {k: v for k, v in data.items() if k != "seed"}  # stored before the seed existed
    assert StudySpec.from_dict(old).seed == 0
    with pytest.raises(ConfigError, match="unknown keys"):
        StudySpec.from_dict(data | {"colour": 1})


def test_range_log_defaults_to_the_declaration():
    """Without `log`, lr (declared log-scaled) is a log range and layers a linear one;
    `log = false` overrides the declaration."""
    spec = validated(TPE + "lr = {low = 0.001, high = 0.1}\nlayers = {low = 1, high = 4}\n"
                     "width = {low = 8, high = 64, log = false}\n")
    assert spec.space["lr"].log is True and spec.space["layers"].log is False
    assert spec.space["width"].log is False
    points = validated(ABLATION + "lr = {low = 0.001, high = 0.1, n = 3}\n").space["lr"].points()
    assert points == pytest.approx([0.001, 0.01, 0.1])
