"""The report's content: one section per study, as blocks (headings, tables, figures, text)."""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial
from typing import TYPE_CHECKING, Any

import pandas as pd

from hpstudy.report import curves as curves_module
from hpstudy.report import plots, search
from hpstudy.report.analysis import StudyAnalysis
from hpstudy.report.beyond import beyond_blocks
from hpstudy.report.blocks import Block, Bullets, Cell, Figure, Heading, Paragraph, Table
from hpstudy.report.final import final_section
from hpstudy.report.labels import (
    decimals,
    finite,
    fmt_mean_std,
    fmt_num,
    fmt_p,
    fmt_value,
    train_label,
    val_label,
)
from hpstudy.report.observations import SIGNIFICANCE, observations
from hpstudy.study.configs import study_records
from hpstudy.study.records import StudyData
from hpstudy.study.strategies.base import FACTOR_TABLES

if TYPE_CHECKING:
    from hpstudy.study.comparison import Comparison

TIMING_NOTE = (
    "Training times are training-only: the forward pass, backward pass and parameter update, "
    "not data loading or evaluation. Trainings run vectorized together (group size > 1) report "
    "their share of the group's wall time."
)


def report_blocks(analyses: Sequence[StudyAnalysis], slugs: Sequence[str],
                  comparisons: Sequence[Comparison] = ()) -> list[Block]:
    """The whole report: title, the timing note, the comparisons with the report's choices when
    there are any, then a section per study."""
    names = ", ".join(a.study.name for a in analyses)
    blocks: list[Block] = [
        Heading(1, f"Hyperparameter study report: {names}"),
        Paragraph(TIMING_NOTE, note=True),
    ]
    if comparisons:
        blocks += beyond_blocks(comparisons)
    for analysis, slug in zip(analyses, slugs, strict=True):
        blocks += study_blocks(analysis, slug)
    return blocks


def study_blocks(analysis: StudyAnalysis, slug: str) -> list[Block]:
    """One study's section."""
    study = analysis.study
    blocks: list[Block] = [Heading(2, f"Study {study.name}"), Paragraph(_summary(analysis))]
    sections = {FACTOR_TABLES: _ablation_blocks, **search.SECTIONS}
    for section in analysis.strategy.report_sections:
        blocks += sections[section](analysis, slug)
    blocks += _sensitivity_blocks(analysis, slug)
    blocks += _figure_blocks(study, slug)
    blocks += [Heading(3, "Observations"), Bullets(observations(analysis))]
    blocks += final_section(analysis, slug)
    return blocks


def _summary(analysis: StudyAnalysis) -> str:
    study, strategy = analysis.study, analysis.strategy
    counts = analysis.trials["status"].value_counts().to_dict()
    status = ", ".join(f"{n} {s}" for s, n in counts.items()) or "no trainings"
    grouped = sum(r.group_size > 1 for r in study_records(study))
    sampler = f" ({strategy.sampler_label(study.spec)})" if strategy.samples else ""
    text = (
        f"Task {study.task}, {study.spec.strategy} study{sampler}, "
        f"{study.spec.repeats} seed(s) per configuration, metric: "
        f"{study.metric_name} ({study.direction}). Trainings: {status}. "
        f"Default configuration: {_config_text(study.defaults)}."
    )
    if grouped:
        text += f" {grouped} training(s) ran vectorized; their time is their share of the group's."
    return text


def _config_text(params: dict[str, Any]) -> str:
    return ", ".join(f"{k}={fmt_value(v)}" for k, v in params.items())


# ---------------------------------------------------------------- ablation


def _ablation_blocks(analysis: StudyAnalysis, slug: str) -> list[Block]:
    study = analysis.study
    legend = "* marks the default value; bold marks the best validation value of each factor."
    if analysis.repeats:
        comparisons = sum(t["p_value"].notna().sum() for t in analysis.factors.values())
        legend += (
            f" Values are mean ± std over seeds; p is a paired t-test of the val metric "
            f"against the default over the same seeds, Holm-corrected over the study's "
            f"{comparisons} comparisons; † marks p < {SIGNIFICANCE}."
        )
    if study.reference:
        legend += " The 'report' columns are the published numbers for the same setting."
    blocks: list[Block] = [Heading(3, "Results per factor"), Paragraph(legend, note=True)]
    for factor, table in analysis.factors.items():
        blocks.append(Heading(4, f"Impact of {factor}"))
        blocks.append(_factor_table(analysis, factor, table, f"{slug}-factor-{factor}"))
        data = plots.factor_plot_data(study, factor, table)
        if not any(finite(v) for v in data.val_mean):
            continue
        blocks.append(
            Figure(
                f"{slug}-factor-{factor}",
                f"{study.name}: {val_label(study)} (left) and training time (right) "
                f"per value of {factor}",
                partial(plots.draw_factor, data),
            )
        )
    return blocks


def _factor_table(analysis: StudyAnalysis, factor: str, table: pd.DataFrame, name: str) -> Table:
    study, digits = analysis.study, decimals(analysis.study)
    columns = [factor, train_label(study), val_label(study), "train time (s)"]
    if analysis.repeats:
        columns += ["seeds", "p (Holm)"]
    groups = None
    if study.reference:
        groups = [("this run", len(columns)), ("report", 3)]
        columns += [train_label(study), val_label(study), "train time (s)"]
    rows = [_factor_cells(analysis, row, digits) for _, row in table.iterrows()]
    caption = f"{study.name}: impact of {factor}"
    return Table(name, caption, columns, rows, table, groups)


def _factor_cells(analysis: StudyAnalysis, row: pd.Series, digits: int) -> list[Cell]:
    value = fmt_value(row["value"]) + ("*" if row["is_default"] else "")
    if row.get("diverged", 0) and row["diverged"] > 0:
        value += f" (diverged {int(row['diverged'])}/{int(row['n'])})"
    cells = [Cell(value)]
    if int(row["n"]) == 0:
        cells += [Cell(_missing_reason(row)), Cell("—"), Cell("—")]
    else:
        cells += [
            Cell(fmt_mean_std(row["train_mean"], row["train_std"], digits)),
            Cell(fmt_mean_std(row["val_mean"], row["val_std"], digits), bool(row["is_best"])),
            Cell(fmt_mean_std(row["time_mean"], row["time_std"], 2)),
        ]
    if analysis.repeats:
        p = row.get("p_holm")
        mark = " †" if isinstance(p, float) and p < SIGNIFICANCE else ""
        cells += [Cell(str(int(row["n"]))), Cell(fmt_p(p) + mark if fmt_p(p) != "—" else "—")]
    if analysis.study.reference:
        cells += [
            Cell(fmt_num(row["ref_train"], digits)),
            Cell(fmt_num(row["ref_val"], digits)),
            Cell(fmt_num(row["ref_time"], 2)),
        ]
    return cells


def _missing_reason(row: pd.Series) -> str:
    if row.get("failed", 0) > 0:
        return "failed"
    return "not finished" if row.get("unfinished", 0) > 0 else "not run"


# ---------------------------------------------------------------- both kinds


def _sensitivity_blocks(analysis: StudyAnalysis, slug: str) -> list[Block]:
    study, ranking = analysis.study, analysis.sensitivity
    if ranking.empty:
        return []
    digits = decimals(study)
    ref = analysis.reference_sensitivity
    ref_spread = {} if ref is None else dict(zip(ref["factor"], ref["spread"], strict=True))
    columns = ["rank", "factor", "spread", "best value", "worst value"]
    columns += ["report spread"] if ref is not None else []
    rows = []
    for i, (_, r) in enumerate(ranking.iterrows()):
        row = [
            Cell(str(i + 1)),
            Cell(r["factor"]),
            Cell(fmt_num(r["spread"], digits)),
            Cell(f"{fmt_value(r['best_value'])} ({fmt_num(r['best_val'], digits)})"),
            Cell(f"{fmt_value(r['worst_value'])} ({fmt_num(r['worst_val'], digits)})"),
        ]
        if ref is not None:
            row.append(Cell(fmt_num(ref_spread.get(r["factor"]), digits)))
        rows.append(row)
    how = (
        "over the factor's values around the default"
        if analysis.ablation
        else "of the mean over trainings per value"
    )
    return [
        Heading(3, "Sensitivity ranking"),
        Paragraph(
            f"Factors ordered by the spread (max - min) of the mean {val_label(study)} {how}.",
            note=True,
        ),
        Table(f"{slug}-sensitivity", f"{study.name}: sensitivity ranking", columns, rows, ranking),
    ]


def _figure_blocks(study: StudyData, slug: str) -> list[Block]:
    blocks: list[Block] = [Heading(3, "Figures")]
    curves = plots.learning_curve_data(study)
    if curves:
        blocks.append(
            Figure(
                f"{slug}-curves",
                f"{study.name}: learning curves of the default and the best training",
                partial(plots.draw_curves, curves, y_metric=val_label(study)),
            )
        )
    if study.spec.prunes:
        every = curves_module.all_curves_data(study)
        blocks.append(
            Figure(
                f"{slug}-all-curves",
                f"{study.name}: {val_label(study)} of every training by epoch; pruned "
                f"trainings ({len(every.stopped_at)}) faded, each ending where it stopped",
                partial(curves_module.draw_all_curves, every),
            )
        )
    pareto = plots.pareto_data(study)
    if pareto.times:
        blocks.append(
            Figure(
                f"{slug}-pareto",
                f"{study.name}: {val_label(study)} vs training time of every "
                f"training; the line is the Pareto front",
                partial(plots.draw_pareto, pareto),
            )
        )
    return blocks if len(blocks) > 1 else []
