"""`hpstudy reproduce --beyond`: the report's choice and a search's choice side by side, the
report's choice retrained once on the search's seeds, and the paired test over those seeds."""

from __future__ import annotations

import json
import math

import pytest
from scipy import stats

from hpstudy import api
from hpstudy.cli import main
from hpstudy.errors import ConfigError
from hpstudy.report.beyond import comparison_rows, paired_difference
from hpstudy.study import comparison as comparison_module
from hpstudy.study.comparison import Comparison, baseline_choice
from hpstudy.study.reader import read_study
from hpstudy.study.records import StudyData
from hpstudy.study.spec import StudySpec


@pytest.fixture(scope="module")
def houses_beyond(tmp_path_factory: pytest.TempPathFactory):
    """`reproduce --beyond --quick` on houses alone, at 2 epochs (the USPS pair is the same
    code on a slower task)."""
    monkeypatch = pytest.MonkeyPatch()
    monkeypatch.setattr(api, "PRESETS", ("houses-seed",))
    monkeypatch.setattr(comparison_module, "BEYOND_PRESETS",
                        {"houses": ("houses-seed", "houses-beyond")})
    monkeypatch.setattr(api, "QUICK_EPOCH_SCALE", {"houses-seed": 0.02, "houses-beyond": 0.02})
    out = tmp_path_factory.mktemp("beyond")
    studies, paths = api.reproduce(out, quick=True, jobs=2, formats=["md", "csv"],
                                   progress=False, beyond=True)
    yield out, studies, paths, monkeypatch
    monkeypatch.undo()


def test_the_report_choice_is_retrained_on_the_search_seeds(houses_beyond) -> None:
    out, studies, _, _ = houses_beyond
    by_name = {study.name: study for study in studies}
    beyond = read_study(by_name["houses-beyond"].store, "houses-beyond")
    baseline = by_name["houses-beyond"].store.load("houses-beyond").user_attrs["baseline"]
    assert beyond.final is not None and beyond.final["rule"] == "best"
    assert baseline["seeds"] == beyond.final["seeds"] == [0, 1, 2, 3, 4]
    # the report's houses choice: its default with a batch size of 16, at the study's epochs
    assert baseline["params"]["batch_size"] == 16 and baseline["params"]["epochs"] == 2
    assert baseline["params"]["lr"] == 0.001 and len(baseline["test_metrics"]) == 5
    finals = json.loads((out / "final.json").read_text())
    assert finals["houses-beyond:baseline"]["test_metrics"] == baseline["test_metrics"]
    assert finals["houses-seed"]["rule"] == "report"


def test_the_report_opens_with_the_side_by_side_table(houses_beyond) -> None:
    out, studies, _, _ = houses_beyond
    text = (out / "report.md").read_text()
    assert text.index("## Beyond the report") < text.index("## Study houses-seed")
    store = {study.name: study.store for study in studies}
    beyond = read_study(store["houses-beyond"], "houses-beyond")
    baseline = store["houses-beyond"].load("houses-beyond").user_attrs["baseline"]
    p = stats.ttest_rel(beyond.final["test_metrics"], baseline["test_metrics"]).pvalue
    assert f"p = {'<0.001' if p < 0.001 else f'{p:.3f}'}" in text
    assert "0.1851" in text  # the report's published test MSE
    csv = (out / "tables" / "beyond-houses.csv").read_text().splitlines()
    assert len(csv) == 5  # header, published, reproduction, report's choice on 5 seeds, search


def test_asking_again_trains_and_tests_nothing(houses_beyond, monkeypatch) -> None:
    out, studies, _, _ = houses_beyond
    stored = studies[-1].store.load("houses-beyond").user_attrs["baseline"]

    def no_second_look(*args, **kwargs):
        raise AssertionError("the test set was evaluated again")

    monkeypatch.setattr("hpstudy.study.final.evaluate_on_test", no_second_look)
    api.reproduce(out, quick=True, jobs=1, formats=["md"], progress=False, beyond=True)
    again = studies[-1].store.load("houses-beyond").user_attrs["baseline"]
    assert again == stored


def test_another_version_of_the_baseline_is_refused(houses_beyond) -> None:
    """A stored baseline answers only its own configuration and seeds."""
    out, studies, _, _ = houses_beyond
    by_name = {study.name: study for study in studies}
    reproduction = read_study(by_name["houses-seed"].store, "houses-seed")
    reproduction.spec = StudySpec.from_dict(reproduction.spec.to_dict() | {"epoch_scale": 0.5})
    reproduction.defaults = reproduction.defaults | {"epochs": 50}
    with pytest.raises(ConfigError, match="would need a second look at the test set"):
        baseline_choice(by_name["houses-beyond"].store, "houses-beyond", reproduction, out)


def test_reproduce_help_names_beyond(capsys) -> None:
    with pytest.raises(SystemExit):
        main(["reproduce", "--help"])
    assert "--beyond" in capsys.readouterr().out


def _final(seeds: list[int], tests: list[float]) -> dict:
    return {"rule": "best", "params": {}, "seeds": seeds, "test_metrics": tests,
            "test_metric": sum(tests) / len(tests), "val_metric": 1.0,
            "runs": [{"seed": s, "test_metric": t, "train_time_s": 1.0}
                     for s, t in zip(seeds, tests, strict=True)]}


def _comparison(direction: str, beyond: list[float], baseline: list[float]) -> Comparison:
    def data(name: str, final: dict) -> StudyData:
        return StudyData(name=name, spec=StudySpec(name=name, task="t"), task="t",
                         direction=direction, metric_name="m", defaults={}, records=[],
                         final=final)
    seeds = list(range(len(beyond)))
    return Comparison(task="t", reproduction=data("r", _final([0], baseline[:1])),
                      beyond=data("b", _final(seeds, beyond)),
                      baseline=_final(seeds, baseline), published=None)


def test_paired_difference_follows_the_metric_direction() -> None:
    """The same numbers are wins for a maximized metric and losses for a minimized one; the
    interval and p-value are scipy's."""
    beyond, baseline = [0.30, 0.25, 0.35, 0.31], [0.20, 0.22, 0.30, 0.33]
    up = paired_difference(_comparison("maximize", beyond, baseline))
    down = paired_difference(_comparison("minimize", beyond, baseline))
    assert (up["wins"], down["wins"]) == (3, 1)
    differences = [a - b for a, b in zip(beyond, baseline, strict=True)]
    low, high = stats.t.interval(0.95, 3, loc=sum(differences) / 4,
                                 scale=stats.sem(differences))
    assert math.isclose(up["low"], low) and math.isclose(up["high"], high)
    assert math.isclose(up["p_value"], stats.ttest_rel(beyond, baseline).pvalue)


def test_only_shared_seeds_are_paired() -> None:
    comparison = _comparison("maximize", [0.3, 0.2, 0.4], [0.1, 0.1, 0.1])
    comparison.baseline = _final([1, 2, 7], [0.1, 0.1, 0.1])
    assert paired_difference(comparison)["seeds"] == [1, 2]
    rows = comparison_rows(comparison)
    assert [row["seeds"] for row in rows] == [[0], [1, 2, 7], [0, 1, 2]]
