"""The figure of every training's validation curve, pruned ones faded (studies that prune).

As in `plots.py`: `all_curves_data` returns what is plotted (tested), `draw_all_curves`
renders it."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from hpstudy.report.labels import val_label
from hpstudy.report.plots import _ready, _save
from hpstudy.study.configs import study_records
from hpstudy.study.records import PRUNED, StudyData

PRUNED_ALPHA = 0.25  # pruned curves are drawn this faint


@dataclass(frozen=True)
class AllCurves:
    """Per training (trial number), its validation curve and whether it was pruned."""

    numbers: list[int]
    curves: list[list[float]]
    pruned: list[bool]
    y_label: str

    @property
    def stopped_at(self) -> list[int]:
        """The epoch each pruned training stopped at."""
        return [len(c) for c, p in zip(self.curves, self.pruned, strict=True) if p]


def all_curves_data(study: StudyData) -> AllCurves:
    """Every trained (complete, diverged or pruned) training's val metric curve."""
    chosen = [r for r in study_records(study) if r.done and r.curves.get("val_metric")]
    return AllCurves(
        numbers=[r.number for r in chosen],
        curves=[[float(v) for v in r.curves["val_metric"]] for r in chosen],
        pruned=[r.status == PRUNED for r in chosen],
        y_label=val_label(study),
    )


def draw_all_curves(data: AllCurves, path: Path) -> Path:
    return _save(all_curves_figure(data), path)


def all_curves_figure(data: AllCurves) -> Figure:
    """One line per training: trained in full in blue, pruned ones faint grey ending in a dot."""
    figure = Figure(figsize=(6.0, 3.6))
    ax = figure.add_subplot()
    labelled = {False: False, True: False}
    for curve, pruned in zip(data.curves, data.pruned, strict=True):
        epochs = range(1, len(curve) + 1)
        label = None
        if not labelled[pruned]:
            label, labelled[pruned] = ("pruned" if pruned else "trained in full"), True
        if pruned:
            ax.plot(epochs, curve, color="0.45", alpha=PRUNED_ALPHA, linewidth=0.8, label=label)
            ax.plot([len(curve)], [curve[-1]], "o", color="0.45", alpha=PRUNED_ALPHA,
                    markersize=2.5)
        else:
            ax.plot(epochs, curve, color="C0", alpha=0.8, linewidth=1.0, label=label)
    ax.set_xlabel("epoch")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_ylabel(data.y_label)
    if "MSE" in data.y_label and _positive_curves(data):
        ax.set_yscale("log")
    if data.curves:
        ax.legend(fontsize="small", loc="best")
    return _ready(figure)


def _positive_curves(data: AllCurves) -> bool:
    return all(v > 0 for curve in data.curves for v in curve)
