"""The report's figures in two steps: `*_data` functions return what is plotted (plain data,
tested), `draw_*` functions render it to a PNG with matplotlib's Agg canvas (no pyplot)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, LogLocator, MaxNLocator, NullFormatter
from optuna.distributions import BaseDistribution, FloatDistribution, IntDistribution

from hpstudy.report import stats
from hpstudy.report.labels import (
    better,
    describe_params,
    finite,
    fmt_value,
    is_number,
    same_params,
    val_label,
)
from hpstudy.study.configs import study_records
from hpstudy.study.records import DIVERGED, StudyData, TrainingRecord

CURVE_PANELS = (
    ("val_metric", "val metric"),
    ("train_loss", "train loss"),
    ("val_loss", "val loss"),
)
DPI = 100
MAX_FRONT_LABELS = 8
FOCUS_RATIO = 3.0  # zoom on the front when all points span more than this times its range
DEFAULT_TEXT, DEFAULT_LABEL = "the default configuration", "default"


@dataclass(frozen=True)
class FactorPlotData:
    """Val metric (with std) and training time per value of one ablation factor."""

    factor: str
    labels: list[str]  # tick labels, the default's ending in '*'
    val_mean: list[float]
    val_std: list[float]  # NaN without repeats
    time_mean: list[float]
    time_std: list[float]
    ref_val: list[float] | None  # the reference's val metric per value, when given
    y_label: str
    ordered: bool = True  # numeric values (joined by lines); categories are points only


def factor_plot_data(study: StudyData, factor: str, table: pd.DataFrame) -> FactorPlotData:
    """What the figure of one factor shows, from its `tables.factor_tables` frame."""
    labels = [
        fmt_value(v) + ("*" if d else "")
        for v, d in zip(table["value"], table["is_default"], strict=True)
    ]

    def column(name: str) -> list[float]:
        if name not in table:
            return [math.nan] * len(table)
        return [float(x) if finite(x) else math.nan for x in table[name]]

    return FactorPlotData(
        factor=factor,
        labels=labels,
        val_mean=column("val_mean"),
        val_std=column("val_std"),
        time_mean=column("time_mean"),
        time_std=column("time_std"),
        ref_val=column("ref_val") if "ref_val" in table else None,
        y_label=val_label(study),
        ordered=all(is_number(v) for v in table["value"]),
    )


@dataclass(frozen=True)
class ScatterData:
    """Every finished training's val metric against one factor's value."""

    factor: str
    x: list[float]  # the value, or for listed categories its position in `categories`
    y: list[float]
    diverged: list[bool]
    log: bool  # a log x axis
    categories: list[str] | None  # tick labels when the factor is categorical
    y_label: str


def scatter_data(study: StudyData, factor: str, distribution: BaseDistribution) -> ScatterData:
    """What the scatter figure of `factor` shows. Ranges keep their scale (log when the range
    is); listed numbers are placed by value (log when positive over two decades or more);
    other listed values are categories, placed in their listed order."""
    done = [r for r in study_records(study) if r.finished and finite(r.val_metric)
            and r.params.get(factor) is not None]
    values = [r.params[factor] for r in done]
    y = [float(r.val_metric) for r in done]  # type: ignore[arg-type]
    diverged = [r.status == DIVERGED for r in done]
    if all(is_number(v) for v in values):
        numbers = [float(v) for v in values]
        if isinstance(distribution, FloatDistribution | IntDistribution):
            log = distribution.log
        else:
            log = bool(numbers) and min(numbers) > 0 and max(numbers) >= 100 * min(numbers)
        return ScatterData(factor, numbers, y, diverged, log, None, val_label(study))
    choices = getattr(distribution, "choices", ())
    order = list(dict.fromkeys([*map(fmt_value, choices), *map(fmt_value, values)]))
    x = [float(order.index(fmt_value(v))) for v in values]
    return ScatterData(factor, x, y, diverged, False, order, val_label(study))


@dataclass(frozen=True)
class CurveSet:
    """The per-epoch curves of one training."""

    label: str
    number: int
    curves: dict[str, list[float]]


def _has_curves(record: TrainingRecord) -> bool:
    return record.finished and any(record.curves.get(k) for k, _ in CURVE_PANELS)


def learning_curve_data(study: StudyData) -> list[CurveSet]:
    """Curves of the default training (lowest seed) and of the best training by val metric."""
    done = [r for r in study_records(study) if _has_curves(r)]
    defaults = [r for r in done if same_params(r.params, study.defaults, study.defaults)]
    default = min(defaults, key=lambda r: r.seed) if defaults else None
    best: TrainingRecord | None = None
    for record in done:
        if finite(record.val_metric) and (
            best is None or better(record.val_metric, best.val_metric, study)  # type: ignore[arg-type]
        ):
            best = record
    sets = []
    if default is not None:
        label = f"default (seed {default.seed})" + (" = best" if best is default else "")
        sets.append(CurveSet(label, default.number, _curves(default)))
    if best is not None and best is not default:
        label = f"best: {describe_params(best.params, study.defaults)} (seed {best.seed})"
        sets.append(CurveSet(label, best.number, _curves(best)))
    return sets


def _curves(record: TrainingRecord) -> dict[str, list[float]]:
    return {
        k: [float(x) for x in record.curves[k]] for k, _ in CURVE_PANELS if record.curves.get(k)
    }


@dataclass(frozen=True)
class ParetoData:
    """Every finished training's (training time, val metric), the Pareto front marked."""

    times: list[float]
    values: list[float]
    labels: list[str]  # the configuration, as its changes from the defaults
    diverged: list[bool]
    front: list[int]  # indices on the front, fastest first
    y_label: str
    maximize: bool = True
    numbers: list[int] = field(default_factory=list)
    y_limits: tuple[float, float] | None = None  # zoom on the front when outliers squash it
    hidden: int = 0  # points outside y_limits


def pareto_data(study: StudyData) -> ParetoData:
    """Val metric vs training time of each finished training, with its Pareto front."""
    done = [
        r
        for r in study_records(study)
        if r.finished and finite(r.val_metric) and finite(r.train_time_s)
    ]
    times = [float(r.train_time_s) for r in done]  # type: ignore[arg-type]
    values = [float(r.val_metric) for r in done]  # type: ignore[arg-type]
    maximize = study.direction == "maximize"
    front = stats.pareto_front(times, values, maximize)
    limits = _focus([values[i] for i in front], values, maximize)
    hidden = 0 if limits is None else sum(not limits[0] <= v <= limits[1] for v in values)
    labels = [describe_params(r.params, study.defaults) for r in done]
    return ParetoData(
        times=times,
        values=values,
        labels=[DEFAULT_LABEL if text == DEFAULT_TEXT else text for text in labels],
        diverged=[r.status == DIVERGED for r in done],
        front=front,
        y_label=val_label(study),
        maximize=maximize,
        numbers=[r.number for r in done],
        y_limits=limits,
        hidden=hidden,
    )


def _focus(front: list[float], values: list[float], maximize: bool) -> tuple[float, float] | None:
    """Y limits around the front when the other points would squash it (None: show all)."""
    if not front:
        return None
    lo, hi = min(front), max(front)
    pad = max(0.5 * (hi - lo), 0.01 * max(abs(lo), abs(hi)), 1e-12)
    limits = (lo - pad, hi + 0.3 * pad) if maximize else (lo - 0.3 * pad, hi + pad)
    inside = sum(limits[0] <= v <= limits[1] for v in values)
    full = max(values) - min(values)
    if full <= FOCUS_RATIO * (limits[1] - limits[0]) or 2 * inside < len(values):
        return None  # nothing squashed, or zooming would hide most trainings
    return limits


def importance_data(importance: stats.Importance) -> tuple[list[str], list[float]]:
    """Parameter names and importances, least important first (bottom-up bars)."""
    items = sorted(importance.values.items(), key=lambda kv: kv[1])
    return [k for k, _ in items], [v for _, v in items]


def _ready(figure: Figure) -> Figure:
    """The figure on an Agg canvas, laid out: ready to save or to show in a notebook."""
    FigureCanvasAgg(figure)
    figure.tight_layout()
    return figure


def _save(figure: Figure, path: Path) -> Path:
    _ready(figure)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=DPI, format="png")
    return path


def draw_factor(data: FactorPlotData, path: Path) -> Path:
    return _save(factor_figure(data), path)


def factor_figure(data: FactorPlotData) -> Figure:
    """Val metric per value (error bars = std over seeds), training time on a second axis;
    numeric values joined by lines, categories (relu, tanh ...) as points only."""
    figure = Figure(figsize=(6, 3.4))
    ax = figure.add_subplot()
    x = np.arange(len(data.labels))
    std = [s if finite(s) else 0.0 for s in data.val_std]
    line, dotted, dashed = ("-", ":", "--") if data.ordered else ("none", "none", "none")
    ax.errorbar(x, data.val_mean, yerr=std, marker="o", capsize=4, color="C0", label="this run",
                linestyle=line)
    if data.ref_val is not None and any(finite(v) for v in data.ref_val):
        ax.plot(x, data.ref_val, marker="s", linestyle=dashed, color="C2", alpha=0.8,
                label="report")
        ax.legend(loc="best", fontsize="small")
    ax.set_xticks(x, data.labels)
    ax.set_xlabel(data.factor)
    ax.set_ylabel(data.y_label, color="C0")
    twin = ax.twinx()
    tstd = [s if finite(s) else 0.0 for s in data.time_std]
    twin.errorbar(
        x + 0.08, data.time_mean, yerr=tstd, marker="^", linestyle=dotted, color="C3", capsize=3
    )
    twin.set_ylabel("train time (s)", color="C3")
    ax.set_title(f"{data.factor}: {data.y_label} and training time")
    return _ready(figure)


def draw_scatter(data: ScatterData, path: Path) -> Path:
    return _save(scatter_figure(data), path)


def scatter_figure(data: ScatterData) -> Figure:
    """Each training as a point (diverged ones as crosses); categories at their positions with
    their mean marked."""
    figure = Figure(figsize=(5.5, 3.4))
    ax = figure.add_subplot()
    for diverged, style in ((False, {"s": 18, "alpha": 0.7, "color": "C0"}),
                            (True, {"marker": "x", "color": "C3", "label": "diverged"})):
        points = [i for i, d in enumerate(data.diverged) if d == diverged]
        if points:
            ax.scatter([data.x[i] for i in points], [data.y[i] for i in points], **style)
    if data.categories is not None:
        for position in sorted(set(data.x)):
            ys = [y for x, y in zip(data.x, data.y, strict=True) if x == position]
            ax.scatter([position], [float(np.mean(ys))], marker="_", s=400, color="C1",
                       label="mean" if position == min(data.x) else None)
        ax.set_xticks(range(len(data.categories)), data.categories)
        ax.set_xlim(-0.5, len(data.categories) - 0.5)
    if data.log:
        ax.set_xscale("log")
        decades = math.log10(max(data.x) / min(data.x)) if min(data.x) > 0 else 0.0
        ax.xaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0) if decades < 2 else (1.0,)))
        ax.xaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
        ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_xlabel(data.factor)
    ax.set_ylabel(data.y_label)
    if any(data.diverged) or data.categories is not None:
        ax.legend(fontsize="small", loc="best")
    ax.set_title(f"{data.y_label} against {data.factor}")
    return _ready(figure)


def draw_curves(data: list[CurveSet], path: Path, y_metric: str) -> Path:
    return _save(curves_figure(data, y_metric), path)


def curves_figure(data: list[CurveSet], y_metric: str) -> Figure:
    """One panel per curve kind, a line per training."""
    panels = [(k, t) for k, t in CURVE_PANELS if any(k in s.curves for s in data)]
    figure = Figure(figsize=(3.4 * max(1, len(panels)), 3.2))
    for i, (key, title) in enumerate(panels):
        ax = figure.add_subplot(1, len(panels), i + 1)
        for n, curve_set in enumerate(data):
            ys = curve_set.curves.get(key)
            if ys:
                ax.plot(range(1, len(ys) + 1), ys, color=f"C{n}", label=curve_set.label)
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_title(y_metric if key == "val_metric" else title, fontsize="medium")
        if key != "val_metric":
            ax.set_yscale("log" if _positive(data, key) else "linear")
    if panels:
        figure.axes[0].legend(fontsize="x-small", loc="best")
    return _ready(figure)


def _positive(data: list[CurveSet], key: str) -> bool:
    values = [v for s in data for v in s.curves.get(key, [])]
    return bool(values) and all(finite(v) and v > 0 for v in values)


def draw_pareto(data: ParetoData, path: Path) -> Path:
    """Each training as a point; the Pareto front as a step line with its configurations."""
    figure = Figure(figsize=(6.4, 3.8))
    ax = figure.add_subplot()
    for diverged, style in (
        (False, {"s": 18, "alpha": 0.6, "label": "training"}),
        (True, {"marker": "x", "color": "C3", "label": "diverged"}),
    ):
        points = [i for i, d in enumerate(data.diverged) if d == diverged]
        if points:
            ax.scatter([data.times[i] for i in points], [data.values[i] for i in points], **style)
    front_t = [data.times[i] for i in data.front]
    front_v = [data.values[i] for i in data.front]
    ax.step(front_t, front_v, where="post", color="C1", marker="o", label="Pareto front")
    _label_front(ax, data)
    ax.set_xlabel("train time (s)")
    ax.set_ylabel(data.y_label)
    if data.y_limits is not None:
        ax.set_ylim(*data.y_limits)
        note = f"{data.hidden} training(s) outside this range"
        ax.text(0.99, 0.02, note, ha="right", transform=ax.transAxes, fontsize="x-small")
    ax.legend(fontsize="small", loc="best")
    ax.set_title("validation metric vs training time")
    return _save(figure, path)


def _label_front(ax: Axes, data: ParetoData) -> None:
    """Name the front's configurations (each once, the first few), alternating offsets."""
    labelled = list({data.labels[i]: i for i in reversed(data.front)}.values())[::-1]
    for n, i in enumerate(labelled[:MAX_FRONT_LABELS]):
        dy = (-10 if data.maximize else 6) * (1 + n % 2)
        ax.annotate(
            data.labels[i],
            (data.times[i], data.values[i]),
            fontsize="x-small",
            xytext=(4, dy),
            textcoords="offset points",
        )


def draw_importance(names: list[str], values: list[float], path: Path) -> Path:
    """Horizontal bars of parameter importance."""
    figure = Figure(figsize=(5.5, 0.45 * len(names) + 1.2))
    ax = figure.add_subplot()
    ax.barh(names, values, color="C0")
    ax.set_xlabel("importance (share of total)")
    ax.set_title("parameter importance")
    return _save(figure, path)
