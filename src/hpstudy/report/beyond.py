"""The "Beyond the report" section: per task, the report's final choice, hpstudy's reproduction
of it, the same configuration on the search's seeds and the search's choice, side by side, with
a paired test over the shared seeds."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from scipy import stats as scipy_stats

from hpstudy.report.blocks import Block, Bullets, Cell, Heading, Paragraph, Table
from hpstudy.report.labels import (
    MISSING,
    decimals,
    describe_params,
    finite,
    fmt_mean_std,
    fmt_num,
    fmt_p,
    fmt_seconds,
)
from hpstudy.report.stats import paired_test
from hpstudy.study.records import StudyData

if TYPE_CHECKING:
    from hpstudy.study.comparison import Comparison

INTRO = (
    "Each task's report choice against a search over the report's factors and new ones "
    "(dropout, batch normalization, random shifts, schedules). Both final configurations are "
    "retrained on the same seeds and evaluated once on the test set; the paired t-test is over "
    "those seeds' test metrics. Configurations are given as changes from the report's default. "
    "Training time is that of one training of the configuration (mean over its seeds), as "
    "measured when it was trained (5-seed retrainings run a process per core)."
)


def beyond_blocks(comparisons: Sequence[Comparison]) -> list[Block]:
    blocks: list[Block] = [Heading(2, "Beyond the report"), Paragraph(INTRO)]
    for comparison in comparisons:
        blocks += _task_blocks(comparison)
    return blocks


def _task_blocks(comparison: Comparison) -> list[Block]:
    beyond, reproduction = comparison.beyond, comparison.reproduction
    heading = Heading(3, f"{comparison.task}: {reproduction.name} against {beyond.name}")
    if not comparison.ready:
        waiting = ("the search has no final choice yet" if beyond.final is None
                   else "the report's choice is not yet retrained on the search's seeds")
        return [heading, Paragraph(f"No comparison yet: {waiting} (run `hpstudy reproduce "
                                   "--beyond` again once the studies are finished).")]
    rows = comparison_rows(comparison)
    table = _table(comparison, rows)
    return [heading, table, Bullets(_paired_lines(comparison) + _search_lines(beyond))]


def comparison_rows(comparison: Comparison) -> list[dict[str, Any]]:
    """The table's rows as data: who chose, configuration, seeds, val, test and time."""
    reproduction, beyond = comparison.reproduction, comparison.beyond
    defaults = reproduction.defaults
    report_final = reproduction.final or {}
    baseline = comparison.baseline or {}
    rows = []
    if comparison.published:
        rows.append({"row": "the report (published)",
                     "configuration": describe_params(baseline.get("params") or {}, defaults),
                     "seeds": [], **comparison.published, "test_std": math.nan,
                     "train_time_s": math.nan})
    if report_final:
        rows.append(_final_row(f"hpstudy's reproduction ({reproduction.name}, rule "
                               f"{report_final.get('rule')})", report_final, defaults))
    rows.append(_final_row("the report's choice on the search's seeds", baseline, defaults))
    rows.append(_final_row(f"the search's choice ({beyond.name}, rule "
                           f"{(beyond.final or {}).get('rule')})", beyond.final or {}, defaults))
    return rows


def _final_row(label: str, final: dict[str, Any], defaults: dict[str, Any]) -> dict[str, Any]:
    runs = final.get("runs") or []
    tests = [float(x) for x in final.get("test_metrics") or []]
    times = [r["train_time_s"] for r in runs if finite(r.get("train_time_s"))]
    return {
        "row": label,
        "configuration": describe_params(final.get("params") or {}, defaults),
        "seeds": list(final.get("seeds") or []),
        "train_metric": final.get("train_metric"),
        "val_metric": final.get("val_metric"),
        "test_metric": final.get("test_metric"),
        "test_std": float(np.std(tests, ddof=1)) if len(tests) > 1 else math.nan,
        "train_time_s": float(np.mean(times)) if times else math.nan,
    }


def _table(comparison: Comparison, rows: list[dict[str, Any]]) -> Table:
    study = comparison.beyond
    digits = decimals(study)
    cells = [
        [
            Cell(row["row"]),
            Cell(row["configuration"]),
            Cell(_seeds_text(row["seeds"])),
            Cell(fmt_num(row["val_metric"], digits)),
            Cell(fmt_mean_std(row["test_metric"], row["test_std"], digits), bold=index == len(
                rows) - 1),
            Cell(fmt_seconds(row["train_time_s"]) if finite(row["train_time_s"]) else MISSING),
        ]
        for index, row in enumerate(rows)
    ]
    columns = ["", "configuration", "seeds", f"val {study.metric_name}",
               f"test {study.metric_name} (mean ± std)", "training time"]
    return Table(f"beyond-{comparison.task}", f"{comparison.task}: the report's choice and the "
                 f"search's, side by side", columns, cells, pd.DataFrame(rows))


def _seeds_text(seeds: list[int]) -> str:
    if not seeds:
        return "one run"
    if seeds == list(range(seeds[0], seeds[-1] + 1)) and len(seeds) > 2:
        return f"{seeds[0]}-{seeds[-1]}"
    return ", ".join(str(s) for s in seeds)


def paired_difference(comparison: Comparison) -> dict[str, Any]:
    """The search's choice minus the report's, seed by seed, on test: the mean difference, its
    95% confidence interval (t distribution), the paired t-test and the seeds won."""
    beyond = _by_seed(comparison.beyond.final or {})
    baseline = _by_seed(comparison.baseline or {})
    seeds = sorted(set(beyond) & set(baseline))
    differences = np.array([beyond[s] - baseline[s] for s in seeds], dtype=float)
    test = paired_test(beyond, baseline)
    maximize = comparison.beyond.direction == "maximize"
    wins = int(np.sum(differences > 0 if maximize else differences < 0))
    mean = float(differences.mean()) if len(seeds) else math.nan
    half = math.nan
    if len(seeds) > 1:
        sem = float(differences.std(ddof=1)) / math.sqrt(len(seeds))
        half = float(scipy_stats.t.ppf(0.975, len(seeds) - 1)) * sem
    return {"seeds": seeds, "mean": mean, "low": mean - half, "high": mean + half,
            "p_value": test.p_value, "wins": wins}


def _by_seed(final: dict[str, Any]) -> dict[int, float]:
    return {int(run["seed"]): float(run["test_metric"]) for run in final.get("runs") or []
            if finite(run.get("test_metric"))}


def _paired_lines(comparison: Comparison) -> list[str]:
    study = comparison.beyond
    digits = decimals(study)
    diff = paired_difference(comparison)
    n = len(diff["seeds"])
    if n == 0:
        return ["No seed is shared by the two final configurations: no paired test."]
    interval = (f" (95% confidence interval {_signed(diff['low'], digits)} to "
                f"{_signed(diff['high'], digits)})" if finite(diff["low"]) else "")
    lines = [
        f"Test {study.metric_name}, the search's choice minus the report's, paired over seeds "
        f"{_seeds_text(diff['seeds'])}: {_signed(diff['mean'], digits)}{interval}; "
        f"better on {diff['wins']} of {n} seeds; paired t-test p = {fmt_p(diff['p_value'])}."
    ]
    if comparison.published:
        published = comparison.published["test_metric"]
        final = (study.final or {}).get("test_metric")
        lines.append(f"Against the report's published test {study.metric_name} "
                     f"({fmt_num(published, digits)}, one run): "
                     f"{_signed(final - published if finite(final) else math.nan, digits)} "
                     "(no paired test: the report gives one number).")
    return lines


def _signed(x: Any, digits: int) -> str:
    text = fmt_num(x, digits)
    return f"+{text}" if finite(x) and x > 0 else text


def _search_lines(study: StudyData) -> list[str]:
    trained = [r for r in study.records if r.finished]
    total = sum(r.train_time_s or 0.0 for r in trained)
    configurations = len({r.config_id for r in trained})
    return [f"The search {study.name} finished {len(trained)} trainings ({configurations} "
            f"configurations, {fmt_seconds(total)} of training in all) before the final "
            "retraining on "
            f"{len((study.final or {}).get('seeds') or [])} seeds."]
