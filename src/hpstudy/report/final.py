"""The "Final choice" section: the chosen configuration and its single test evaluation."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from hpstudy.report.analysis import StudyAnalysis
from hpstudy.report.blocks import Block, Bullets, Cell, Heading, Paragraph, Table
from hpstudy.report.labels import (
    decimals,
    describe_params,
    finite,
    fmt_mean_std,
    fmt_num,
    fmt_value,
    val_label,
)
from hpstudy.study.records import StudyData


def final_section(analysis: StudyAnalysis, slug: str) -> list[Block]:
    """The chosen configuration with its test metric, or the candidates when none was chosen."""
    study = analysis.study
    blocks: list[Block] = [Heading(3, "Final choice")]
    if study.final:
        blocks += _chosen(study)
        candidates = list(study.final.get("candidates") or [])
    elif not analysis.candidates:
        return blocks + [
            Paragraph("No test evaluation has been run: no configuration has finished.")
        ]
    else:
        candidates = list(analysis.candidates.values())
        blocks.append(
            Paragraph(
                "No test evaluation has been run: the configurations below are the candidates of "
                "each final-choice rule (best: best mean val metric; fast: fastest within the "
                "tolerance of the best; combine: every ablation factor at its best value)."
            )
        )
    if candidates:
        blocks.append(_candidates_table(study, candidates, f"{slug}-candidates"))
        notes = [str(c["explanation"]) for c in candidates if c.get("explanation")]
        if notes:
            blocks.append(Bullets(notes))
    return blocks


def _chosen(study: StudyData) -> list[Block]:
    final: dict[str, Any] = study.final or {}
    digits = decimals(study)
    params = final.get("params") or {}
    seeds = list(final.get("seeds") or [])
    per_seed = [fmt_num(x, digits) for x in final.get("test_metrics") or []]
    lines = [
        f"Rule: {final.get('rule', '?')}.",
        f"Configuration: {describe_params(params, study.defaults)} "
        f"({', '.join(f'{k}={fmt_value(v)}' for k, v in params.items())}).",
    ]
    train = _final_train(study)
    if train:
        lines.append(f"Train {study.metric_name} of the retraining: {train}.")
    lines += [
        f"Validation {study.metric_name}: {fmt_num(final.get('val_metric'), digits)}.",
        f"Test {study.metric_name}: {fmt_num(final.get('test_metric'), digits)}"
        + (f" (mean over seeds {seeds}: {', '.join(per_seed)})." if seeds else "."),
    ]
    blocks: list[Block] = [Bullets(lines)]
    if final.get("explanation"):
        blocks.append(Paragraph(str(final["explanation"])))
    return blocks


def _final_train(study: StudyData) -> str:
    """Mean ± std train metric of the final retraining's records, when stored."""
    values = [
        r.train_metric
        for r in study.records
        if r.role == "final" and r.finished and finite(r.train_metric)
    ]
    if not values:
        return ""
    std = float(np.std(values, ddof=1)) if len(values) > 1 else float("nan")
    return fmt_mean_std(float(np.mean(values)), std, decimals(study))


def _candidates_table(study: StudyData, candidates: list[dict[str, Any]], name: str) -> Table:
    digits = decimals(study)
    rows = [
        [
            Cell(str(c.get("rule", ""))),
            Cell(describe_params(c.get("params") or {}, study.defaults)),
            Cell(fmt_num(c.get("val_metric"), digits)),
            Cell(fmt_num(c.get("train_time_s"), 2)),
        ]
        for c in candidates
    ]
    data = pd.DataFrame(
        [
            {
                "rule": c.get("rule"),
                "params": c.get("params"),
                "val_metric": c.get("val_metric"),
                "train_time_s": c.get("train_time_s"),
            }
            for c in candidates
        ]
    )
    columns = ["rule", "configuration", f"mean {val_label(study)}", "mean train time (s)"]
    return Table(name, f"{study.name}: final-choice candidates", columns, rows, data)
