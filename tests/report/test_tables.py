"""Tests for hpstudy.report.tables and configs: factor tables, paired tests, sensitivity."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest
from report_synthetic import ABLATION, ablation_study, change, make_record
from scipy import stats as scipy_stats

from hpstudy.report import stats, tables
from hpstudy.report.analysis import study_space
from hpstudy.study import configs, selection
from hpstudy.study.records import FAILED, StudyData


def _vals(text: str, seeds: int = 3) -> list[float]:
    return [ABLATION[text][s][1] for s in range(seeds)]


def _row(table, value):
    return table[table["value"] == value].iloc[0]


def test_factor_tables_mean_std_with_three_seeds(ablation3: StudyData) -> None:
    """Means and sample stds over seeds match numpy; failed trainings are not counted."""
    lr = tables.factor_tables(ablation3)["lr"]
    assert list(lr["value"]) == [0.001, 0.01, 1.0]
    row = _row(lr, 0.01)
    assert row["n"] == 3 and row["failed"] == 1
    assert row["val_mean"] == pytest.approx(np.mean(_vals("lr=0.01")))
    assert row["val_std"] == pytest.approx(np.std(_vals("lr=0.01"), ddof=1))
    trains = [ABLATION["lr=0.01"][s][0] for s in range(3)]
    assert row["train_mean"] == pytest.approx(np.mean(trains))
    assert row["time_mean"] == pytest.approx(10.2)


def test_factor_tables_default_marked_and_shared(ablation3: StudyData) -> None:
    """The default row is marked and is the same configuration in every factor's table."""
    factor_tables = tables.factor_tables(ablation3)
    assert set(factor_tables) == {"lr", "width", "loss"}
    for factor, table in factor_tables.items():
        default = table[table["is_default"]]
        assert list(default["value"]) == [ablation3.defaults[factor]]
        assert default.iloc[0]["val_mean"] == pytest.approx(np.mean(_vals("")))


def test_factor_tables_best_is_direction_aware(ablation3: StudyData) -> None:
    """The best row has the highest mean when maximizing, the lowest when minimizing."""
    lr = tables.factor_tables(ablation3)["lr"]
    assert list(lr[lr["is_best"]]["value"]) == [0.01]
    ablation3.direction = "minimize"
    lr = tables.factor_tables(ablation3)["lr"]
    assert list(lr[lr["is_best"]]["value"]) == [1.0]


def test_factor_tables_diverged_counts_as_result(ablation3: StudyData) -> None:
    """Diverged trainings keep their metrics in the means and are counted as diverged."""
    row = _row(tables.factor_tables(ablation3)["lr"], 1.0)
    assert row["n"] == 3 and row["diverged"] == 3
    assert row["val_mean"] == pytest.approx(np.mean(_vals("lr=1.0")))


def test_factor_tables_single_seed_has_no_std_or_test(ablation1: StudyData) -> None:
    """With one seed per configuration the std and the p-values are NaN."""
    lr = tables.factor_tables(ablation1)["lr"]
    assert _row(lr, 0.01)["val_mean"] == pytest.approx(98.0)
    assert lr["val_std"].isna().all() and lr["p_value"].isna().all()
    assert not configs.has_repeats(configs.config_table(ablation1))


def test_factor_tables_paired_p_equals_scipy(ablation3: StudyData) -> None:
    """The raw p-value is scipy.stats.ttest_rel of per-seed val metrics against the default's."""
    row = _row(tables.factor_tables(ablation3)["lr"], 0.01)
    expected = scipy_stats.ttest_rel(_vals("lr=0.01"), _vals("")).pvalue
    assert row["pairs"] == 3
    assert row["p_value"] == pytest.approx(expected, rel=1e-12)


def test_factor_tables_holm_over_whole_study(ablation3: StudyData) -> None:
    """p_holm is Holm's correction over the 4 comparisons of all factors, computed by hand."""
    factor_tables = tables.factor_tables(ablation3)
    raw = {
        t: scipy_stats.ttest_rel(_vals(t), _vals("")).pvalue
        for t in ("lr=0.01", "lr=1.0", "width=8", "loss=ce")
    }
    order = sorted(raw, key=lambda t: raw[t])
    expected, running = {}, 0.0
    for rank, text in enumerate(order):
        running = max(running, min(1.0, (4 - rank) * raw[text]))
        expected[text] = running
    for text, p in expected.items():
        factor, value = text.split("=")
        shown = _row(factor_tables[factor], change(text)[factor])["p_holm"]
        assert shown == pytest.approx(p, rel=1e-12)


def test_factor_tables_value_with_only_failures(ablation3: StudyData) -> None:
    """A value whose trainings all failed gets a row with no results and its failure count."""
    ablation3.records.append(make_record(99, change("width=32"), 0, FAILED, error="x"))
    width = tables.factor_tables(ablation3)["width"]
    assert list(width["value"]) == [8, 16, 32]
    row = _row(width, 32)
    assert row["n"] == 0 and row["failed"] == 1 and math.isnan(row["val_mean"])


def test_factor_tables_reference_columns_beside_run(ablation3: StudyData) -> None:
    """Reference numbers join on (factor, value); reference-only values add sorted rows."""
    ablation3.reference = [
        {"factor": "lr", "value": 0.001, "train": 99.08, "val": 97.44, "time": 14.52},
        {"factor": "lr", "value": 0.1, "train": 16.23, "val": 17.04, "time": 14.21},
        {"factor": "loss", "value": "ce", "train": None, "val": 97.68, "time": 14.35},
    ]
    factor_tables = tables.factor_tables(ablation3)
    lr = factor_tables["lr"]
    assert list(lr["value"]) == [0.001, 0.01, 0.1, 1.0]
    assert _row(lr, 0.001)["ref_val"] == 97.44 and math.isnan(_row(lr, 0.01)["ref_val"])
    assert _row(lr, 0.1)["n"] == 0 and _row(lr, 0.1)["ref_time"] == 14.21
    assert math.isnan(_row(factor_tables["loss"], "ce")["ref_train"])


def test_scale_value_follows_epoch_scale() -> None:
    """Spec epochs are scaled like the runner scales them; other factors are untouched."""
    study = ablation_study(1)
    study.spec = replace(study.spec, epoch_scale=0.1)
    assert selection.scale_value(study, "epochs", 30) == 3
    assert selection.scale_value(study, "epochs", 4) == 1
    assert selection.scale_value(study, "lr", 0.5) == 0.5


def test_sensitivity_orders_by_spread(ablation3: StudyData) -> None:
    """Factors are ranked by max - min of mean val metric, with their best and worst values."""
    ranking = tables.sensitivity(ablation3, tables.factor_tables(ablation3))
    assert list(ranking["factor"]) == ["lr", "width", "loss"]
    means = {t: np.mean(_vals(t)) for t in ABLATION}
    assert ranking.iloc[0]["spread"] == pytest.approx(means["lr=0.01"] - means["lr=1.0"])
    assert ranking.iloc[1]["spread"] == pytest.approx(means[""] - means["width=8"])
    assert ranking.iloc[0]["best_value"] == 0.01 and ranking.iloc[0]["worst_value"] == 1.0


def test_sensitivity_random_study_uses_means_per_value(random12: StudyData) -> None:
    """Without an ablation, each value's mean is over the trainings that used it."""
    ranking = tables.sensitivity(random12, None, study_space(random12))
    assert list(ranking["factor"]) == ["lr", "width"]  # loss takes one value: not ranked
    lr_means = {
        v: np.mean([r.val_metric for r in random12.records if r.params["lr"] == v])
        for v in (0.001, 0.1)
    }
    assert ranking.iloc[0]["best_value"] == 0.001
    assert ranking.iloc[0]["spread"] == pytest.approx(lr_means[0.1] - lr_means[0.001])


def test_trials_table_lists_every_study_training(ablation3: StudyData) -> None:
    """Every study training appears with its status."""
    trials = configs.trials_table(ablation3)
    assert len(trials) == 17
    assert trials["status"].value_counts().to_dict() == {"complete": 12, "diverged": 3, "failed": 2}
    assert list(trials.columns[:5]) == ["number", "status", "lr", "width", "loss"]


def test_ranked_configs_best_first(random12: StudyData) -> None:
    """Configurations are ordered by mean val metric in the study's direction."""
    ranked = configs.ranked_configs(random12)
    assert ranked.iloc[0]["params"] == {"lr": 0.001, "width": 8, "loss": "mse"}
    assert ranked.iloc[0]["n"] == 2
    assert list(ranked["val_mean"]) == sorted(ranked["val_mean"])


def test_holm_hand_computation() -> None:
    """Holm: sorted p times (m - rank), running max, capped at 1; NaN left out of m."""
    assert stats.holm([0.01, 0.04, 0.03, 0.5]) == pytest.approx([0.04, 0.09, 0.09, 0.5])
    adjusted = stats.holm([0.02, math.nan, 0.6])
    assert adjusted[0] == pytest.approx(0.04) and adjusted[2] == pytest.approx(0.6)
    assert math.isnan(adjusted[1])
    assert stats.holm([0.4, 0.9]) == pytest.approx([0.8, 0.9])
    assert stats.holm([]) == []


def test_paired_test_needs_two_common_seeds() -> None:
    """Fewer than two common seeds, or constant differences, give NaN rather than an error."""
    assert math.isnan(stats.paired_test({0: 1.0, 1: 2.0}, {0: 1.0, 5: 2.0}).p_value)
    assert math.isnan(stats.paired_test({0: 2.0, 1: 3.0}, {0: 1.0, 1: 2.0}).p_value)
    test = stats.paired_test({0: 2.0, 1: 3.5, 2: 1.0}, {0: 1.0, 1: 2.0, 2: 1.5, 3: 9.0})
    assert test.pairs == 3
    assert test.p_value == pytest.approx(scipy_stats.ttest_rel([2, 3.5, 1], [1, 2, 1.5]).pvalue)


@pytest.mark.parametrize(
    ("times", "values", "maximize", "front"),
    [
        ([1, 2, 3], [5, 4, 6], True, [0, 2]),
        ([1, 2, 3], [5, 4, 6], False, [0, 1]),
        ([2, 1, 1], [3, 2, 1], True, [1, 0]),
        ([1, math.nan, 2], [1, 9, math.inf], True, [0]),
    ],
)
def test_pareto_front_cases(times, values, maximize, front) -> None:
    """The front keeps each point faster than every better one, fastest first."""
    assert stats.pareto_front(times, values, maximize) == front
