"""`hpstudy.Study`: a stored study as a notebook or a script sees it.

Every method reads the storage again, so a study that other workers are still filling shows
its current state. Tables are pandas DataFrames, figures matplotlib Figures.
"""

from __future__ import annotations

import html
from collections.abc import Collection
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hpstudy.errors import ConfigError
from hpstudy.progress import figures_inline
from hpstudy.runtime import check_data_dir, set_threads
from hpstudy.study import listing
from hpstudy.study.reader import latest_attempts, read_study
from hpstudy.study.records import TrainingRecord
from hpstudy.study.spec import preset_names, preset_path
from hpstudy.study.storage import Store, redact
from hpstudy.study.strategies import get_strategy
from hpstudy.study.strategies.base import FACTOR_TABLES

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.figure import Figure

    from hpstudy.study.records import StudyData


@dataclass
class StudyStatus:
    """Counts by status (one per training, its latest attempt) and the best so far."""

    name: str
    strategy: str
    task: str
    metric_name: str
    counts: dict[str, int]
    total: int
    best: dict[str, Any] | None  # params, seed, val_metric of the best finished training
    sampler: str = ""  # the sampler and its seed ("" for a fixed plan)
    lines: list[str] = field(default_factory=list)  # what `hpstudy status` prints

    def __str__(self) -> str:
        return "\n".join(self.lines)


def summary_lines(records: list[TrainingRecord], direction: str, metric_name: str) -> list[str]:
    """The status line and the best so far, as `hpstudy run` and `hpstudy status` end."""
    current = latest_attempts(records)
    lines = [listing.status_line(current)]
    best = listing.best(current, direction)
    if best is not None:
        lines.append(f"best val {metric_name}: {best.val_metric:.4f} with "
                     f"{listing.describe(best.params)} seed={best.seed}")
    return lines


def reference_of(data: StudyData, compare_to: Path | str | None) -> list[dict[str, Any]] | None:
    """Reference numbers shown beside the study's: a CSV given, or a preset's published ones."""
    from hpstudy.report import read_reference_csv

    if compare_to is not None:
        return read_reference_csv(Path(compare_to))
    if data.name in preset_names():
        reference = preset_path(data.name).with_suffix(".reference.csv")
        if reference.is_file():
            return read_reference_csv(reference)
    return None


class Study:
    """A study kept in a storage: its trainings, tables, figures, final choice and report.

    Get one from `hpstudy.run` or `hpstudy.open`. `out` is the folder for the final choice's
    models, `final.json` and the report (by default the study's folder).
    """

    def __init__(self, store: Store, name: str, out: Path | None = None):
        self.store = store
        self.name = name
        self.out = Path(out) if out is not None else Path("studies") / name

    def __repr__(self) -> str:
        return f"<hpstudy.Study {self.name!r} in {redact(self.store.url)}>"

    def data(self, compare_to: Path | str | None = None) -> StudyData:
        """The study as the report reads it (records, spec, final choice, reference numbers)."""
        data = read_study(self.store, self.name)
        data.reference = reference_of(data, compare_to)
        return data

    def status(self) -> StudyStatus:
        """Counts by status and the best training so far."""
        data = read_study(self.store, self.name)
        current = latest_attempts(data.records)
        counts: dict[str, int] = {}
        for record in current:
            counts[record.status] = counts.get(record.status, 0) + 1
        best = listing.best(current, data.direction)
        strategy = data.spec.strategy
        chosen = get_strategy(strategy)
        sampler = chosen.sampler_label(data.spec) if chosen.samples else ""
        header = [f"study {self.name} ({strategy} on {data.task})"] + ([sampler] if sampler else [])
        return StudyStatus(
            name=self.name, strategy=strategy, task=data.task, metric_name=data.metric_name,
            counts=counts, total=len(current),
            best=None if best is None else {"params": best.params, "seed": best.seed,
                                            "val_metric": best.val_metric},
            sampler=sampler,
            lines=header + summary_lines(data.records, data.direction, data.metric_name))

    def rows(self, all_attempts: bool = False) -> list[dict[str, Any]]:
        """One plain dict per training (`hpstudy trials --format json`)."""
        records = read_study(self.store, self.name).records
        chosen = records if all_attempts else latest_attempts(records)
        return [listing.row(record) for record in chosen]

    def trials(self, all_attempts: bool = False) -> pd.DataFrame:
        """One row per training: number, status, metrics, time, role, every hyperparameter as a
        column, seed and error. `all_attempts` adds failed attempts that were queued again."""
        return listing.frame(self.rows(all_attempts))

    def _factor_tables(self) -> tuple[StudyData, dict[str, pd.DataFrame]]:
        from hpstudy.report.tables import factor_tables

        data = self.data()
        if FACTOR_TABLES not in get_strategy(data.spec.strategy).report_sections:
            raise ConfigError(f"Study {self.name!r} is a {data.spec.strategy} study; "
                              "per-factor tables are made for ablations (see trials()).")
        return data, factor_tables(data)

    def _factor(self, factor: str) -> tuple[StudyData, pd.DataFrame]:
        data, tables = self._factor_tables()
        if factor not in tables:
            raise ConfigError(f"Study {self.name!r} has no factor {factor!r}. "
                              f"Factors: {', '.join(tables) or 'none'}.")
        return data, tables[factor]

    def table(self, factor: str) -> pd.DataFrame:
        """The report's table of one ablation factor: a row per value (`default` marks the
        baseline's), finished trainings `n`, `train` and `val` metric and training `time` in s (with
        repeats: `_mean` and `_std` columns and Holm-corrected paired t-tests against the
        default), `best`, `diverged` and `failed` counts when there are any, and the
        reference's numbers (`ref_*`) where the study has them."""
        data, table = self._factor(factor)
        repeated = data.spec.repeats > 1
        frame = table.rename(columns={"value": factor, "is_default": "default",
                                      "is_best": "best"})
        columns = [factor, "default", "n"]
        for name in ("train", "val", "time"):
            columns += [f"{name}_mean", f"{name}_std"] if repeated else [f"{name}_mean"]
        columns += ["p_holm"] if repeated else []
        columns += ["best"] + [c for c in ("diverged", "failed") if table[c].any()]
        columns += [c for c in frame.columns if c.startswith("ref_")]
        frame = frame[columns]
        if not repeated:
            frame = frame.rename(columns={f"{n}_mean": n for n in ("train", "val", "time")})
        return frame.reset_index(drop=True)

    def plot(self, factor: str) -> Figure:
        """The report's figure of one ablation factor: val metric per value (std over seeds
        as error bars) and training time on a second axis."""
        from hpstudy.report import plots

        data, table = self._factor(factor)
        figures_inline()
        return plots.factor_figure(plots.factor_plot_data(data, factor, table))

    def plot_curves(self) -> Figure:
        """Learning curves of the default training and of the best one."""
        from hpstudy.report import plots
        from hpstudy.report.labels import val_label

        data = self.data()
        curves = plots.learning_curve_data(data)
        if not curves:
            raise ConfigError(f"Study {self.name!r} has no finished training with curves yet.")
        figures_inline()
        return plots.curves_figure(curves, val_label(data))

    def final(self, rule: str | None = None, *, tolerance: float | None = None,
              data_dir: Path | str | None = None, threads: int | None = None,
              final_now: bool = False, default_rule: str = "best") -> dict[str, Any] | None:
        """The final choice by `rule` (best, fast, combine, report; None: the stored choice's,
        else `default_rule`), retrained on the study's seeds and evaluated once on the test set
        (`tolerance`: the `fast` rule's, relative to the best, default 0.01). It waits for the
        study to finish: None while trainings remain, unless `final_now`. Asked again, the
        stored numbers come back and the test set is not touched again. Models and
        `final.json` go to `self.out`."""
        from hpstudy.study.final import final_choice
        from hpstudy.train import resolve_device

        if threads is not None:
            set_threads(threads)
        return final_choice(self.store, self.name, self.out, rule=rule, tolerance=tolerance,
                            data_dir=check_data_dir(data_dir), device=resolve_device("auto"),
                            final_now=final_now, default_rule=default_rule)

    def report_data(self, *, final: bool = True, rule: str | None = None,
                    tolerance: float | None = None, data_dir: Path | str | None = None,
                    compare_to: Path | str | None = None, threads: int | None = None,
                    final_now: bool = False, default_rule: str = "best") -> StudyData:
        """The study as its report shows it, after the final choice (see `final`) unless
        `final` is false."""
        if final:
            self.final(rule, tolerance=tolerance, data_dir=data_dir, threads=threads,
                       final_now=final_now, default_rule=default_rule)
        return self.data(compare_to)

    def report(self, out: Path | str | None = None, *, formats: Collection[str] | None = None,
               final: bool = True, rule: str | None = None, tolerance: float | None = None,
               data_dir: Path | str | None = None, compare_to: Path | str | None = None,
               final_now: bool = False) -> list[Path]:
        """Write the report (report.md, report.html, report.tex, tables/, figures/) under `out`
        (default `self.out`), making the final choice first (see `final`) unless `final` is
        false; returns the files written."""
        from hpstudy.report import FORMATS, write_report

        data = self.report_data(final=final, rule=rule, tolerance=tolerance, data_dir=data_dir,
                                compare_to=compare_to, final_now=final_now)
        return write_report([data], Path(out) if out is not None else self.out,
                            FORMATS if formats is None else formats)

    def _repr_html_(self) -> str:
        status = self.status()
        cells = [("study", self.name), ("task", status.task), ("strategy", status.strategy),
                 ("storage", redact(self.store.url)),
                 ("trainings", status.lines[1])]
        if status.best is not None:
            cells.append((f"best val {status.metric_name}",
                          f"{status.best['val_metric']:.4f} with "
                          f"{listing.describe(status.best['params'])} seed={status.best['seed']}"))
        final = read_study(self.store, self.name).final
        if final:
            cells.append((f"final choice ({final['rule']})",
                          f"test {final['test_metric']:.4f}, val {final['val_metric']:.4f}"))
        body = "".join(f"<tr><th style='text-align:left'>{html.escape(k)}</th>"
                       f"<td style='text-align:left'>{html.escape(str(v))}</td></tr>"
                       for k, v in cells)
        return f"<table>{body}</table>"
