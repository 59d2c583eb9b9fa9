"""Tests for the final-choice candidates: best, fast (tolerance) and combine."""

from __future__ import annotations

import pytest
from report_synthetic import DEFAULTS, change

from hpstudy.errors import ConfigError
from hpstudy.study.records import StudyData
from hpstudy.study.selection import DEFAULT_TOLERANCE
from hpstudy.study.strategies import get_strategy


def final_candidates(study: StudyData, tolerance: float = DEFAULT_TOLERANCE) -> dict:
    return get_strategy(study.spec.strategy).candidates(study, tolerance)


def combine_params(study: StudyData) -> dict | None:
    return get_strategy(study.spec.strategy).combined(study)


def test_final_candidates_best_is_best_mean(ablation3: StudyData) -> None:
    """best: the configuration with the best mean val metric, with its mean time."""
    best = final_candidates(ablation3)["best"]
    assert best["params"] == change("lr=0.01")
    assert best["val_metric"] == pytest.approx((98.0 + 98.3 + 97.9) / 3)
    assert best["train_time_s"] == pytest.approx(10.2)
    assert best["trainings"] == 3
    assert best["explanation"].startswith("best: lr=0.01: the best mean validation accuracy")


@pytest.mark.parametrize(
    ("tolerance", "expected"),
    [(0.0, "lr=0.01"), (0.01, "loss=ce"), (0.05, "width=8"), (1.0, "width=8")],
)
def test_final_candidates_fast_within_tolerance(
    ablation3: StudyData, tolerance: float, expected: str
) -> None:
    """fast: the fastest configuration within tolerance * |best| of the best mean."""
    fast = final_candidates(ablation3, tolerance)["fast"]
    assert fast["params"] == change(expected)


def test_final_candidates_fast_minimize(random12: StudyData) -> None:
    """For a minimized metric the tolerance allows values above the best."""
    fast = final_candidates(random12, 0.15)["fast"]
    assert fast["params"] == {"lr": 0.001, "width": 16, "loss": "mse"}
    assert final_candidates(random12, 0.0)["fast"]["params"]["width"] == 8


def test_final_candidates_combine_for_ablation(ablation3: StudyData) -> None:
    """combine: every factor at its best value; untrained, so no measured metric."""
    combine = final_candidates(ablation3)["combine"]
    assert combine["params"] == change("lr=0.01") | {"loss": "ce"}
    assert combine["val_metric"] is None
    assert "not trained" in combine["explanation"]


def test_combine_params_keeps_default_on_ties(ablation1: StudyData) -> None:
    """A factor whose best value is the default keeps it; others take their best value."""
    assert combine_params(ablation1) == {"lr": 0.01, "width": 16, "loss": "ce"}


def test_combine_params_none_outside_ablation(random12: StudyData) -> None:
    """Only ablations have a combined choice (the strategy owns it)."""
    assert combine_params(random12) is None
    assert "combine" not in final_candidates(random12)


def test_final_candidates_empty_without_results(ablation3: StudyData) -> None:
    """No finished training: no candidates."""
    ablation3.records = [r for r in ablation3.records if not r.finished]
    assert final_candidates(ablation3) == {}
    assert combine_params(ablation3) is None


@pytest.mark.parametrize("tolerance", [-0.1, float("nan"), float("inf")])
def test_final_candidates_rejects_bad_tolerance(ablation3: StudyData, tolerance: float) -> None:
    """The tolerance must be a finite number >= 0."""
    with pytest.raises(ConfigError, match="tolerance must be a number >= 0"):
        final_candidates(ablation3, tolerance)


def test_defaults_are_not_modified(ablation3: StudyData) -> None:
    """Computing candidates leaves the study's defaults as they were."""
    final_candidates(ablation3)
    assert ablation3.defaults == DEFAULTS
