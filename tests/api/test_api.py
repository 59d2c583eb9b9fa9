"""The Python API: run, open, tables, figures, final choice and report, as a notebook uses it."""

import multiprocessing

import pandas as pd
import pytest
from matplotlib.figure import Figure

import hpstudy
from hpstudy.cli import main
from hpstudy.tasks.houses import HousesTask

TINY = 0.02  # houses-seed epochs 50..1000 become 1..20


@pytest.fixture(scope="module")
def houses(tmp_path_factory) -> hpstudy.Study:
    out = tmp_path_factory.mktemp("api") / "houses"
    return hpstudy.run("houses-seed", out=out, epoch_scale=TINY, jobs=2, progress=False)


def test_run_gives_trials_as_a_dataframe(houses):
    """One row per training, the hyperparameters as columns."""
    trials = houses.trials()
    assert isinstance(trials, pd.DataFrame) and trials.shape[0] == 23
    assert {"status", "seed", "lr", "width", "val_metric", "train_time_s"} <= set(trials.columns)
    assert set(trials["status"]) == {"complete"}


def test_table_is_the_factor_table_of_the_report(houses):
    """table('lr') has a row per value, the default marked, and the report's numbers beside."""
    table = houses.table("lr")
    assert list(table["lr"]) == [0.0001, 0.001, 0.01, 0.1]
    assert list(table["default"]) == [False, True, False, False]
    assert {"n", "train", "val", "time", "best", "ref_val"} <= set(table.columns)
    assert "val_std" not in table.columns and table["best"].sum() == 1


def test_table_with_repeats_has_mean_and_std(tmp_path):
    """With two seeds the table holds means, stds and the paired test's p-values."""
    spec = {"task": "houses", "repeats": 2, "defaults": {"epochs": 2},
            "space": {"width": [8, 16]}}
    study = hpstudy.run(spec, out=tmp_path / "r", progress=False, jobs=1)
    table = study.table("width")
    assert study.name == "houses-ablation"
    assert {"val_mean", "val_std", "time_mean", "p_holm"} <= set(table.columns)
    assert list(table["n"]) == [2, 2]


@pytest.mark.parametrize("call, message", [
    (lambda s: s.table("nope"), "no factor 'nope'"),
    (lambda s: s.plot("nope"), "no factor 'nope'"),
])
def test_unknown_factor_is_a_config_error(houses, call, message):
    with pytest.raises(hpstudy.ConfigError, match=message):
        call(houses)


def test_plots_are_matplotlib_figures(houses):
    """plot(factor) has the metric and the time axis; plot_curves one panel per curve kind."""
    figure = houses.plot("lr")
    assert isinstance(figure, Figure) and len(figure.axes) == 2
    assert [tick.get_text() for tick in figure.axes[0].get_xticklabels()] == [
        "0.0001", "0.001*", "0.01", "0.1"]
    assert len(houses.plot_curves().axes) == 3


def test_open_reads_the_same_study(houses):
    """open(folder) and open(url, name) see what run returned; status says as the CLI does."""
    by_dir = hpstudy.open(houses.out)
    by_url = hpstudy.open(houses.store.url, "houses-seed")
    assert by_dir.trials().equals(houses.trials()) and by_url.name == "houses-seed"
    status = by_dir.status()
    assert status.counts == {"complete": 23} and status.total == 23
    assert status.lines[:2] == ["study houses-seed (ablation on houses)",
                                "23 trainings: 23 complete"]
    assert "<table>" in by_dir._repr_html_() and "23 complete" in by_dir._repr_html_()


def test_status_prints_what_the_api_says(houses, capsys):
    """`hpstudy status` prints Study.status()."""
    assert main(["status", str(houses.out)]) == 0
    assert capsys.readouterr().out.split() == str(houses.status()).split()


def test_open_without_a_study_is_a_config_error(tmp_path):
    with pytest.raises(hpstudy.ConfigError, match="no study.db there"):
        hpstudy.open(tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_final_choice_once_then_stored_and_report(houses, tmp_path):
    """final() evaluates on test once; asking again returns the stored numbers; report()
    writes the report files."""
    first = houses.final(rule="fast")
    assert first is not None and first["rule"] == "fast" and first["test_metric"] > 0
    assert houses.final() == first
    with pytest.raises(hpstudy.ConfigError, match="fast"):
        houses.final(rule="best")  # a stored choice answers only its own rule
    written = houses.report(tmp_path / "report", formats=["md", "csv"])
    assert tmp_path / "report" / "report.md" in written
    assert "final choice" in (tmp_path / "report" / "report.md").read_text().lower()


BAD = {"task": "usps", "strategy": "ablation", "space": {"lr": [-1]}}


def test_bad_spec_is_the_cli_line_and_writes_nothing(tmp_path, monkeypatch, capsys):
    """The API raises ConfigError with the one line the CLI prints for the same study file."""
    monkeypatch.chdir(tmp_path)
    with pytest.raises(hpstudy.ConfigError) as raised:
        hpstudy.run(BAD)
    path = tmp_path / "bad.toml"
    path.write_text('name = "usps-ablation"\ntask = "usps"\nstrategy = "ablation"\n'
                    '[space]\nlr = [-1]\n')
    assert main(["run", str(path), "--quiet"]) == 2
    assert capsys.readouterr().err == f"error: {raised.value}\n"
    assert "'lr' hyperparameter must be a float > 0. Got -1" in str(raised.value)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.toml"]


@pytest.mark.parametrize("spec, options, message", [
    (BAD | {"space": {}}, {"jobs": 0}, "--jobs must be an int >= 1. Got 0."),
    ({"task": "houses"}, {"epoch_scale": -1}, "--epoch-scale must be a number > 0"),
    ({"task": "houses", "colour": 1}, {}, "unknown key 'colour'"),
    (42, {}, "must be a preset name, a .toml path or a dict"),
    ("no-such-preset", {}, "Unknown preset 'no-such-preset'"),
    ({"task": "usps"}, {"task": HousesTask()}, "is for task 'usps', but the task given"),
])
def test_invalid_arguments_are_config_errors(spec, options, message, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(hpstudy.ConfigError, match=message.replace(".", r"\.")):
        hpstudy.run(spec, progress=False, **options)
    assert list(tmp_path.iterdir()) == []


def test_progress_goes_to_stderr_outside_a_notebook(tmp_path, capsys):
    """progress=True shows the header and the summary on stderr; stdout stays clean."""
    hpstudy.run({"task": "houses", "defaults": {"epochs": 1}, "space": {"width": [8]}},
                out=tmp_path / "p", jobs=1)
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "study houses-ablation: ablation on houses, 2 trainings" in captured.err
    assert "2 trainings: 2 complete" in captured.err


def test_without_fork_a_task_of_this_session_is_a_clear_error(tmp_path, monkeypatch):
    """Where workers cannot be forked, a task defined in the session cannot reach them."""
    class Local(HousesTask):
        name = "local-houses"

    monkeypatch.setattr(multiprocessing, "get_all_start_methods", lambda: ["spawn"])
    with pytest.raises(hpstudy.ConfigError, match="move the class into a .py file"):
        hpstudy.run({"space": {"width": [8]}}, task=Local(), out=tmp_path / "o", jobs=2,
                    progress=False)
    assert list(tmp_path.iterdir()) == []


def test_train_quiet_prints_the_summary_and_no_progress(capsys):
    """`hpstudy train --quiet`: the summary on stdout, nothing on stderr; --quiet is the same
    for reproduce (progress off, results printed)."""
    assert main(["train", "houses", "--set", "epochs=2", "--quiet"]) == 0
    captured = capsys.readouterr()
    assert captured.err == "" and "status: ok" in captured.out
    from hpstudy.cli import build_parser

    args = build_parser(["reproduce"]).parse_args(["reproduce", "--quiet"])
    assert args.quiet is True
