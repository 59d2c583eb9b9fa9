"""Tests for the generated observations and for parameter importance."""

from __future__ import annotations

import pytest
from optuna.distributions import CategoricalDistribution as CAT  # noqa: N814
from report_synthetic import random_study

from hpstudy.report import analyze, stats
from hpstudy.report.observations import observations
from hpstudy.study.records import StudyData


def test_observations_most_sensitive_factor_maximize(ablation3: StudyData) -> None:
    """The first sentence names the most sensitive factor with its worst and best values."""
    text = observations(analyze(ablation3))
    assert text[0] == (
        "lr is the most sensitive factor: validation accuracy ranges from 16.83% (lr=1) "
        "to 98.07% (lr=0.01)."
    )
    assert text[1].startswith("loss matters least: validation accuracy stays between 97.10%")


def test_observations_factor_effects_with_significance(ablation3: StudyData) -> None:
    """Each factor's sentence gives the effect with values and the Holm-corrected verdict."""
    text = observations(analyze(ablation3))
    lr = next(s for s in text if s.startswith("lr: "))
    assert "lr=0.01 improves validation accuracy to 98.07%, from 97.10% at the default" in lr
    assert "Holm-corrected p = 0.00" in lr and ": significant)" in lr
    width = next(s for s in text if s.startswith("width: "))
    assert width.startswith("width: no value beats 97.10% at the default width=16")
    assert "Training time goes from 6.20 s (width=8) to 10.50 s (width=16)." in width


def test_observations_mention_diverged_and_failed(ablation3: StudyData) -> None:
    """Diverged trainings are counted as results; failed ones are reported as left out."""
    text = " ".join(observations(analyze(ablation3)))
    assert "3 training(s) diverged (lr=1)" in text
    assert "2 training(s) failed and are left out" in text and "boom" in text


def test_observations_minimize_wording(ablation1: StudyData) -> None:
    """For a minimized metric the lowest value is the improvement."""
    ablation1.direction, ablation1.metric_name = "minimize", "MSE"
    text = observations(analyze(ablation1))
    lr = next(s for s in text if s.startswith("lr: "))
    assert lr.startswith("lr: lr=1 improves validation MSE to 17.0000, from 97.0000")
    assert text[0] == (
        "lr is the most sensitive factor: validation MSE ranges from 17.0000 (lr=1) "
        "to 98.0000 (lr=0.01)."
    )


def test_observations_random_study(random12: StudyData) -> None:
    """A search study names its best configuration and its most important parameter."""
    text = observations(analyze(random12))
    assert text[0].startswith("lr is the most sensitive factor: validation MSE ranges from 0.1075")
    assert any(s.startswith("The best configuration (width=8) reaches a mean") for s in text)
    assert any(s.startswith("By parameter importance, lr matters most") for s in text)


def test_observations_reference_agreement(ablation1: StudyData) -> None:
    """With reference numbers, the sensitivity ranking is compared with the report's."""
    ablation1.reference = [
        {"factor": "loss", "value": "mse", "train": None, "val": 50.0, "time": None},
        {"factor": "loss", "value": "ce", "train": None, "val": 97.0, "time": None},
    ]
    text = observations(analyze(ablation1))
    assert "In the report the most sensitive factor is loss; here it is lr." in text


def test_importance_from_random_study(random12: StudyData) -> None:
    """Importance covers the parameters with several values, sums to 1, lr first."""
    importance = analyze(random12).importance
    assert importance is not None and importance.note == ""
    assert list(importance.values) == ["lr", "width"]
    assert sum(importance.values.values()) == pytest.approx(1.0)


@pytest.mark.parametrize(
    ("trials", "choices", "note"),
    [
        ([({"a": 1}, 1.0)] * 5, {"a": CAT([1]), "b": CAT([2])},
         "no parameter takes more than one value"),
        ([({"a": 1}, 1.0), ({"a": 2}, 2.0)], {"a": CAT([1, 2])}, "2 finished trainings"),
        ([({"a": i % 2}, float("nan")) for i in range(6)], {"a": CAT([0, 1])},
         "0 finished trainings"),
    ],
)
def test_importance_skipped_with_note(trials, choices, note) -> None:
    """Single-valued parameters and too few trainings skip importance with a note."""
    importance = stats.param_importance(trials, choices, "minimize")
    assert importance.values == {} and note in importance.note


def test_importance_absent_for_ablation(ablation3: StudyData) -> None:
    """Ablations report sensitivity per factor instead of importance."""
    assert analyze(ablation3).importance is None
    assert analyze(random_study(3)).importance.values == {}  # type: ignore[union-attr]
