"""The study report: tables, figures, observations and the final choice, read from storage only.

`write_report` turns one or more studies (e.g. a reproduction's usps-seed and houses-seed) into
one report with a section per study: ``report.md``, a self-contained ``report.html`` (figures as
data URIs), ``report.tex`` with ``tables/*.tex``, raw numbers in ``tables/*.csv`` and
``figures/*.png``.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from hpstudy.errors import ConfigError
from hpstudy.report import render
from hpstudy.report.analysis import StudyAnalysis, analyze
from hpstudy.report.blocks import Block
from hpstudy.report.document import report_blocks
from hpstudy.report.reference import read_reference_csv
from hpstudy.study.records import StudyData
from hpstudy.study.selection import DEFAULT_TOLERANCE

if TYPE_CHECKING:
    from hpstudy.study.comparison import Comparison

FORMATS = ("md", "html", "tex", "csv")

__all__ = [
    "DEFAULT_TOLERANCE",
    "FORMATS",
    "StudyAnalysis",
    "analyze",
    "read_reference_csv",
    "write_report",
]


def _slugs(studies: Sequence[StudyData]) -> list[str]:
    """File-name prefixes, one per study, unique."""
    slugs: list[str] = []
    for study in studies:
        base = re.sub(r"[^A-Za-z0-9_.-]+", "-", study.name).strip("-.") or "study"
        slug, n = base, 2
        while slug in slugs:
            slug, n = f"{base}-{n}", n + 1
        slugs.append(slug)
    return slugs


def write_report(
    studies: Sequence[StudyData],
    out_dir: Path,
    formats: Collection[str] = FORMATS,
    *,
    tolerance: float = DEFAULT_TOLERANCE,
    comparisons: Sequence[Comparison] = (),
) -> list[Path]:
    """Write the report of `studies` under `out_dir`; returns the files written.

    `formats` picks among md, html, tex (report.tex and tables/*.tex) and csv (tables/*.csv);
    figures are drawn when md, html or tex is asked for. `tolerance` is the `fast` rule's
    (see `hpstudy.study.selection.final_candidates`) for studies without a final choice.
    `comparisons` (from `hpstudy.study.comparison`) add a "Beyond the report" section first.
    """
    unknown = sorted(set(formats) - set(FORMATS))
    if unknown:
        raise ConfigError(f"Unknown report format(s) {unknown}; choose from {list(FORMATS)}.")
    if not studies:
        raise ConfigError("A report needs at least one study.")
    out_dir = Path(out_dir)
    analyses = [analyze(study, tolerance) for study in studies]
    blocks = report_blocks(analyses, _slugs(studies), comparisons)
    title = "Hyperparameter study report: " + ", ".join(s.name for s in studies)
    written: list[Path] = []
    if {"md", "html", "tex"} & set(formats):
        written += [f.draw(out_dir / "figures" / f.filename) for f in render.figures_of(blocks)]
    written += _write_tables(blocks, out_dir, formats)
    written += _write_documents(blocks, out_dir, formats, title)
    return written


def _write_tables(blocks: Sequence[Block], out_dir: Path, formats: Collection[str]) -> list[Path]:
    written = []
    for table in render.tables_of(blocks):
        if "csv" in formats:
            written.append(render.to_csv(table, out_dir / "tables" / f"{table.name}.csv"))
        if "tex" in formats:
            written.append(
                _write(out_dir / "tables" / f"{table.name}.tex", render.to_tex_table(table))
            )
    return written


def _write_documents(
    blocks: Sequence[Block], out_dir: Path, formats: Collection[str], title: str
) -> list[Path]:
    written = []
    if "md" in formats:
        written.append(_write(out_dir / "report.md", render.to_markdown(blocks)))
    if "html" in formats:
        html = render.to_html(blocks, out_dir / "figures", title)
        written.append(_write(out_dir / "report.html", html))
    if "tex" in formats:
        written.append(_write(out_dir / "report.tex", render.to_tex(blocks, title)))
    return written


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path
