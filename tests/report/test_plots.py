"""Tests for the report's plot data (data, not pixels) and one PNG smoke test."""

from __future__ import annotations

import math
from pathlib import Path

import matplotlib.image
import pytest
from report_synthetic import change

from hpstudy.report import plots, stats, tables
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
