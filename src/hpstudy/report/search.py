"""The report sections of searches (grid, random, tpe, qmc, gp, coordinate): every training,
the best configurations, parameter importance, and the val metric against each factor."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

import pandas as pd

from hpstudy.report import plots
from hpstudy.report.analysis import StudyAnalysis
from hpstudy.report.blocks import Block, Cell, Figure, Heading, Paragraph, Table
from hpstudy.report.labels import (
    decimals,
    describe_params,
    finite,
    fmt_mean_std,
    fmt_num,
    fmt_value,
    train_label,
    val_label,
)
from hpstudy.report.stats import IMPORTANCE_METHOD
from hpstudy.study.records import PRUNED
from hpstudy.study.strategies.base import BEST, FACTOR_SCATTER, IMPORTANCE, TRIALS

ERROR_CHARS = 80
NOT_PARAMS = ("number", "status", "seed", "train", "val", "time", "epochs_run", "stopped_at",
              "error")


def trials_blocks(analysis: StudyAnalysis, slug: str) -> list[Block]:
    study, digits = analysis.study, decimals(analysis.study)
    trials = analysis.trials
    names = [c for c in trials.columns if c not in NOT_PARAMS]
    pruning = study.spec.prunes or bool((trials["status"] == PRUNED).any())
    rows = [
        [
            Cell(str(r["number"])),
            Cell(r["status"]),
            *[Cell(fmt_value(r[k])) for k in names],
            Cell(str(r["seed"])),
            Cell(fmt_num(r["train"], digits)),
            Cell(fmt_num(r["val"], digits)),
            Cell(fmt_num(r["time"], 2)),
            *([Cell(stopped_text(r["stopped_at"]))] if pruning else []),
            Cell(str(r["error"])[:ERROR_CHARS]),
        ]
        for _, r in trials.iterrows()
    ]
    columns = ["#", "status", *names, "seed", train_label(study), val_label(study),
               "train time (s)", *(["stopped at epoch"] if pruning else []), "error"]
    return [
        Heading(3, "Trainings"),
        Table(f"{slug}-trials", f"{study.name}: every training", columns, rows, trials),
    ]


def stopped_text(epoch: object) -> str:
    """A pruned training's stop epoch ("" for one that was not pruned)."""
    return str(int(epoch)) if finite(epoch) else ""


def best_blocks(analysis: StudyAnalysis, slug: str) -> list[Block]:
    study, digits = analysis.study, decimals(analysis.study)
    top = analysis.ranked.head(5)
    rows = [
        [
            Cell(str(i + 1)),
            Cell(describe_params(r["params"], study.defaults)),
            Cell(str(int(r["n"]))),
            Cell(fmt_mean_std(r["train_mean"], r["train_std"], digits)),
            Cell(fmt_mean_std(r["val_mean"], r["val_std"], digits), i == 0),
            Cell(fmt_mean_std(r["time_mean"], r["time_std"], 2)),
        ]
        for i, (_, r) in enumerate(top.iterrows())
    ]
    columns = ["rank", "configuration", "trainings", train_label(study), val_label(study),
               "train time (s)"]
    data = top.drop(columns=["val_by_seed"]).assign(params=top["params"].map(dict))
    caption = f"{study.name}: the best configurations (mean over seeds)"
    return [Heading(3, "Best configurations"), Table(f"{slug}-best", caption, columns, rows, data)]


def importance_blocks(analysis: StudyAnalysis, slug: str) -> list[Block]:
    importance = analysis.importance
    blocks: list[Block] = [Heading(3, "Parameter importance")]
    if importance is None or not importance.values:
        note = importance.note if importance is not None else "importance skipped."
        return blocks + [Paragraph(note[0].upper() + note[1:], note=True)]
    data = pd.DataFrame(
        {"parameter": list(importance.values), "importance": list(importance.values.values())}
    )
    rows = [[Cell(k), Cell(f"{v:.3f}")] for k, v in importance.values.items()]
    names, values = plots.importance_data(importance)
    name = analysis.study.name
    return blocks + [
        Paragraph(
            f"Importance by {IMPORTANCE_METHOD}, computed from every finished training.", note=True
        ),
        Table(f"{slug}-importance", f"{name}: parameter importance", ["parameter", "importance"],
              rows, data),
        Figure(f"{slug}-importance", f"{name}: parameter importance",
               partial(plots.draw_importance, names, values)),
    ]


def scatter_blocks(analysis: StudyAnalysis, slug: str) -> list[Block]:
    """One figure per factor: every finished training's val metric against its value (a log
    axis for log ranges; listed values as points at their place, never joined)."""
    study = analysis.study
    figures: list[Block] = []
    for factor, distribution in analysis.space.items():
        data = plots.scatter_data(study, factor, distribution)
        if len(set(data.x)) < 2:
            continue
        figures.append(Figure(
            f"{slug}-scatter-{factor}",
            f"{study.name}: {val_label(study)} of every training against {factor}"
            + (" (log axis)" if data.log else ""),
            partial(plots.draw_scatter, data)))
    return [Heading(3, "Validation metric per factor"), *figures] if figures else []


SECTIONS: dict[str, Callable[[StudyAnalysis, str], list[Block]]] = {
    TRIALS: trials_blocks,
    BEST: best_blocks,
    IMPORTANCE: importance_blocks,
    FACTOR_SCATTER: scatter_blocks,
}
