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
from hpstudy.study.progress import Progress, describe_choice, since_choice, study_progress
from hpstudy.study.records import StudyData
from hpstudy.study.selection import DEFAULT_TOLERANCE
from hpstudy.study.strategies import get_strategy


def final_section(analysis: StudyAnalysis, slug: str) -> list[Block]:
    """The chosen configuration with its test metric, or the candidates when none was chosen
    (provisional while the study has trainings left)."""
    study = analysis.study
    progress = study_progress(study)
    blocks: list[Block] = [Heading(3, "Final choice")]
    provisional = False
    if study.final:
        blocks += _chosen(study) + _since(study, progress)
        candidates = list(study.final.get("candidates") or [])
    elif not analysis.candidates:
        left = "" if progress.done else f" yet ({progress.describe()})"
        return blocks + [
            Paragraph(f"No test evaluation has been run: no configuration has finished{left}.")
        ]
    else:
        candidates = list(analysis.candidates.values())
        provisional = not progress.done
        blocks.append(Paragraph(_PROVISIONAL.format(progress.describe()) if provisional
                                else _CANDIDATES))
    if candidates:
        blocks.append(_candidates_table(study, candidates, f"{slug}-candidates", provisional))
        notes = [str(c["explanation"]) for c in candidates if c.get("explanation")]
        if notes:
            blocks.append(Bullets(notes))
    return blocks


_RULES_TEXT = (
    "best: best mean val metric; fast: fastest within the tolerance of the best; combine: "
    "every ablation factor at its best value"
)
_CANDIDATES = (
    "No test evaluation has been run: the configurations below are the candidates of each "
    f"final-choice rule ({_RULES_TEXT})."
)
_PROVISIONAL = (
    "Provisional: {}. No test evaluation has been run: the final choice waits for the study "
    "to finish (hpstudy report --final-now makes it now). The configurations below are the "
    f"candidates of each final-choice rule among the trainings finished so far ({_RULES_TEXT})."
)


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
    train = _final_train(study, final)
    if train:
        lines.append(f"Train {study.metric_name} of the retraining: {train}.")
    lines += [
        f"Validation {study.metric_name}: {fmt_num(final.get('val_metric'), digits)}.",
        f"Test {study.metric_name}: {fmt_num(final.get('test_metric'), digits)}"
        + (f" (mean over seeds {seeds}: {', '.join(per_seed)})." if seeds else "."),
        f"Chosen by {describe_choice(final)}.",
    ]
    blocks: list[Block] = [Bullets(lines)]
    made_on = final.get("made_on") or {}
    if made_on.get("remaining"):
        blocks.append(Paragraph(
            f"This choice was made on {made_on['finished']} of {made_on['total']} trainings "
            f"(forced with --final-now): {made_on['remaining']} had not finished then."))
    if final.get("explanation"):
        blocks.append(Paragraph(str(final["explanation"])))
    return blocks


def _since(study: StudyData, progress: Progress) -> list[Block]:
    """What trainings that finished after the choice change: said, never tested again."""
    final = study.final or {}
    tolerance = float(final.get("tolerance") or DEFAULT_TOLERANCE)
    candidates = get_strategy(study.spec.strategy).candidates(study, tolerance)
    since = since_choice(final, progress, candidates)
    if since is None:
        return []
    text = since.describe()
    if since.current is not None:
        value = fmt_num(since.current.get("val_metric"), decimals(study))
        text += (f": {describe_params(since.current.get('params') or {}, study.defaults)}, "
                 f"mean {val_label(study)} {value}")
    return [Paragraph(text + ". The test set is not evaluated again; the numbers above are "
                      "those of the choice.")]


def _final_train(study: StudyData, final: dict[str, Any]) -> str:
    """Mean ± std train metric of the final choice's retraining, over its seeds."""
    values = [r["train_metric"] for r in final.get("runs") or [] if finite(r.get("train_metric"))]
    if not values:
        return ""
    std = float(np.std(values, ddof=1)) if len(values) > 1 else float("nan")
    return fmt_mean_std(float(np.mean(values)), std, decimals(study))


def _candidates_table(
    study: StudyData, candidates: list[dict[str, Any]], name: str, provisional: bool = False
) -> Table:
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
    kind = "provisional final-choice candidates" if provisional else "final-choice candidates"
    return Table(name, f"{study.name}: {kind}", columns, rows, data)
