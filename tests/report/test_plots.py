"""Tests for the report's plot data (data, not pixels) and one PNG smoke test."""

from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path

import matplotlib.image
import pytest
from report_synthetic import change, range_study

from hpstudy.report import analyze, plots, stats, tables, write_report
from hpstudy.report.analysis import study_space
from hpstudy.report.observations import observations
from hpstudy.study.records import StudyData


def test_factor_plot_data_values_and_labels(ablation3: StudyData) -> None:
    """One point per value: mean val with std, mean time; the default's label ends in '*'."""
    table = tables.factor_tables(ablation3)["lr"]
    data = plots.factor_plot_data(ablation3, "lr", table)
    assert data.labels == ["0.001*", "0.01", "1"]
    assert data.val_mean == pytest.approx([97.1, (98.0 + 98.3 + 97.9) / 3, (17 + 17.5 + 16) / 3])
    assert data.val_std == pytest.approx(list(table["val_std"]))
    assert data.time_mean == pytest.approx([10.5, 10.2, (9.0 + 9.5 + 9.2) / 3])
    assert data.ref_val is None and data.y_label == "val accuracy (%)"


def test_factor_plot_data_reference_points(ablation1: StudyData) -> None:
    """With reference numbers the figure data carries the reference's val metric per value."""
    ablation1.reference = [{"factor": "lr", "value": 0.01, "train": 1.0, "val": 98.14, "time": 2}]
    table = tables.factor_tables(ablation1)["lr"]
    data = plots.factor_plot_data(ablation1, "lr", table)
    assert data.ref_val is not None
    assert data.ref_val[1] == 98.14 and math.isnan(data.ref_val[0])
    assert all(math.isnan(s) for s in data.val_std)


def test_learning_curve_data_default_and_best(ablation3: StudyData) -> None:
    """Curves of the default (lowest seed) and the best single training."""
    sets = plots.learning_curve_data(ablation3)
    assert [s.label for s in sets] == ["default (seed 0)", "best: lr=0.01 (seed 1)"]
    best = next(r for r in ablation3.records if r.number == sets[1].number)
    assert best.params == change("lr=0.01") and best.val_metric == 98.3
    assert sets[1].curves["val_metric"] == pytest.approx([49.15, 88.47, 98.3])
    assert set(sets[0].curves) == {"val_metric", "train_loss", "val_loss"}


def test_learning_curve_data_default_is_best(random12: StudyData) -> None:
    """Without a trained default only the best training is shown; minimize picks the lowest."""
    sets = plots.learning_curve_data(random12)
    assert len(sets) == 2 and sets[1].label.startswith("best: width=8")
    random12.records = [r for r in random12.records if r.params["width"] != 16]
    sets = plots.learning_curve_data(random12)
    assert len(sets) == 1 and sets[0].label == "best: width=8 (seed 0)"


def test_pareto_data_front(ablation3: StudyData) -> None:
    """Every finished training is a point; the front is the non-dominated ones, fastest first."""
    data = plots.pareto_data(ablation3)
    assert len(data.times) == 15 and sum(data.diverged) == 3
    front = [(data.times[i], data.values[i]) for i in data.front]
    assert front == [(6.0, 96.0), (6.5, 96.2), (9.8, 97.6), (9.9, 97.8), (10.1, 98.3)]
    assert [data.labels[i] for i in data.front][-1] == "lr=0.01"


def test_pareto_data_zooms_past_outliers(ablation3: StudyData, random12: StudyData) -> None:
    """Far-off points (the diverged lr=1) make the plot zoom on the front and count them."""
    data = plots.pareto_data(ablation3)
    assert data.y_limits == pytest.approx((96.0 - 1.15, 98.3 + 0.3 * 1.15))
    assert data.hidden == 3
    assert plots.pareto_data(random12).y_limits is None


def test_importance_data_ascending() -> None:
    """Bars are listed least important first so the largest is drawn on top."""
    names, values = plots.importance_data(stats.Importance({"lr": 0.8, "width": 0.2}))
    assert names == ["width", "lr"] and values == [0.2, 0.8]


def test_draw_factor_writes_png(ablation3: StudyData, tmp_path: Path) -> None:
    """The renderer writes a PNG that matplotlib can read back."""
    data = plots.factor_plot_data(ablation3, "lr", tables.factor_tables(ablation3)["lr"])
    path = plots.draw_factor(data, tmp_path / "sub" / "lr.png")
    image = matplotlib.image.imread(path)
    assert image.ndim == 3 and image.shape[0] > 100 and image.shape[1] > 100


def test_scatter_data_keeps_a_log_range_on_a_log_axis() -> None:
    """A log range: one point per training at its value, on a log axis; an int range linear."""
    study = range_study()
    space = study_space(study)
    lr = plots.scatter_data(study, "lr", space["lr"])
    assert lr.log and lr.categories is None and len(lr.x) == 16
    assert lr.x == pytest.approx([r.params["lr"] for r in study.records])
    width = plots.scatter_data(study, "width", space["width"])
    assert not width.log and width.x[:2] == [8.0, 83.0]


def test_scatter_data_places_categories_in_listed_order() -> None:
    """Listed categories are positions 0..k-1 with their names as ticks."""
    study = range_study()
    data = plots.scatter_data(study, "activation", study_space(study)["activation"])
    assert data.categories == ["relu", "tanh"] and set(data.x) == {0.0, 1.0}
    figure = plots.scatter_figure(data)
    assert [t.get_text() for t in figure.axes[0].get_xticklabels()] == ["relu", "tanh"]
    assert not figure.axes[0].lines  # points and means only, nothing joined


def test_factor_figure_joins_numbers_but_not_categories(ablation3: StudyData) -> None:
    """An ablation's numeric factor is drawn as a line; a categorical one as points only."""
    factors = tables.factor_tables(ablation3)
    lr = plots.factor_plot_data(ablation3, "lr", factors["lr"])
    loss = plots.factor_plot_data(ablation3, "loss", factors["loss"])
    assert lr.ordered and not loss.ordered
    styles = [line.get_linestyle() for line in plots.factor_figure(loss).axes[0].lines]
    assert styles and set(styles) == {"None"}
    assert "-" in [line.get_linestyle() for line in plots.factor_figure(lr).axes[0].lines]


def test_range_study_report_has_scatter_importance_and_best(tmp_path: Path) -> None:
    """A search over ranges reports its trainings, importance, best configurations and one
    scatter figure per factor."""
    paths = write_report([range_study()], tmp_path, ["md"])
    names = {p.name for p in paths}
    assert {"rng-scatter-lr.png", "rng-scatter-width.png", "rng-scatter-activation.png",
            "rng-importance.png"} <= names
    text = (tmp_path / "report.md").read_text()
    assert "### Best configurations" in text and "### Parameter importance" in text
    assert "against lr (log axis)" in text and "sampler: TPESampler" in text
    importance = analyze(range_study()).importance
    assert importance is not None and next(iter(importance.values)) == "lr"


def test_range_study_observations_rank_by_importance_not_spread() -> None:
    """Ranges have no per-value means to rank: observations use the importance instead."""
    study = range_study()
    study.spec = replace(study.spec, space={k: v for k, v in study.spec.space.items()
                                            if k != "activation"})
    text = observations(analyze(study))
    assert not any("none can be compared" in s for s in text)
    assert any(s.startswith("By parameter importance, lr matters most") for s in text)
