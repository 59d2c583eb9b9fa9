"""Tests for write_report: files, formats, the combined report, HTML self-containment."""

from __future__ import annotations

import base64
import re
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from report_synthetic import ablation_study, change, random_study

from hpstudy.errors import ConfigError
from hpstudy.report import write_report
from hpstudy.study.records import StudyData

FINAL: dict[str, Any] = {
    "rule": "combine",
    "params": change("lr=0.01") | {"loss": "ce"},
    "val_metric": 98.3,
    "test_metric": 95.81,
    "test_metrics": [95.7, 95.92],
    "seeds": [0, 1],
    "runs": [{"seed": 0, "train_metric": 99.96}, {"seed": 1, "train_metric": 100.0}],
    "candidates": [
        {"rule": "best", "params": change("lr=0.01"), "val_metric": 98.07, "train_time_s": 10.2}
    ],
    "explanation": "Every factor at its best value.",
}


def _studies() -> list[StudyData]:
    usps = ablation_study(3, name="usps-seed", final=FINAL)
    usps.reference = [{"factor": "lr", "value": 0.001, "train": 99.08, "val": 97.44, "time": 14.52}]
    houses = random_study(12)
    houses.records[0].group_size = 4
    return [usps, houses]


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[Path]]:
    out = tmp_path_factory.mktemp("report")
    return out, write_report(_studies(), out)


def test_write_report_writes_every_format(report: tuple[Path, list[Path]]) -> None:
    """report.md/html/tex, tables as CSV and TeX, figures as PNG; all returned paths exist."""
    out, paths = report
    assert all(p.is_file() for p in paths) and len(set(paths)) == len(paths)
    names = {p.relative_to(out).as_posix() for p in paths}
    assert {"report.md", "report.html", "report.tex"} <= names
    for stem in (
        "usps-seed-factor-lr",
        "usps-seed-sensitivity",
        "rnd-trials",
        "rnd-best",
        "rnd-importance",
        "rnd-candidates",
    ):
        assert {f"tables/{stem}.csv", f"tables/{stem}.tex"} <= names
    figures = {n for n in names if n.startswith("figures/")}
    assert {
        "figures/usps-seed-factor-lr.png",
        "figures/usps-seed-curves.png",
        "figures/usps-seed-pareto.png",
        "figures/rnd-importance.png",
    } <= figures


def test_write_report_csv_holds_raw_numbers(report: tuple[Path, list[Path]]) -> None:
    """A factor table's CSV has the unformatted means, stds, p-values and reference columns."""
    out, _ = report
    frame = pd.read_csv(out / "tables" / "usps-seed-factor-lr.csv")
    assert list(frame["value"]) == [0.001, 0.01, 1.0]
    assert frame.loc[1, "val_mean"] == pytest.approx((98.0 + 98.3 + 97.9) / 3)
    assert {"val_std", "p_value", "p_holm", "ref_val", "is_default"} <= set(frame.columns)
    assert frame.loc[0, "ref_val"] == 97.44


def test_write_report_markdown_sections(report: tuple[Path, list[Path]]) -> None:
    """One section per study; factor tables mark default and best; notes and final choice."""
    text = (report[0] / "report.md").read_text(encoding="utf-8")
    assert "## Study usps-seed" in text and "## Study rnd" in text
    assert "| 0.001\\* | 99.00 ± 0.20 | 97.10 ± 0.26 |" in text
    assert "**98.07 ± 0.21**" in text and "†" in text
    assert "report: val accuracy (%)" in text
    assert "Training times are training-only" in text and "share of the group" in text
    assert "1 training(s) ran vectorized" in text
    assert "Test accuracy (%): 95.81 (mean over seeds [0, 1]: 95.70, 95.92)." in text
    assert "Train accuracy (%) of the retraining: 99.98 ± 0.03." in text
    assert "No test evaluation has been run" in text  # the random study has no final choice
    assert "(figures/usps-seed-pareto.png)" in text


def test_write_report_html_is_self_contained(report: tuple[Path, list[Path]]) -> None:
    """No external resources; every PNG is embedded as a data URI, byte for byte."""
    out, paths = report
    page = (out / "report.html").read_text(encoding="utf-8")
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:|//)""", page, re.IGNORECASE)
    assert "<link" not in page and "@import" not in page
    pngs = [p for p in paths if p.suffix == ".png"]
    sources = re.findall(r'<img src="([^"]+)"', page)
    assert len(sources) == len(pngs)
    for png in pngs:
        uri = "data:image/png;base64," + base64.b64encode(png.read_bytes()).decode()
        assert uri in sources


def test_write_report_tex_inputs_tables(report: tuple[Path, list[Path]]) -> None:
    """report.tex inputs each table file and escapes the metric's percent sign."""
    out, _ = report
    tex = (out / "report.tex").read_text(encoding="utf-8")
    assert "\\input{tables/usps-seed-factor-lr.tex}" in tex
    table = (out / "tables" / "usps-seed-factor-lr.tex").read_text(encoding="utf-8")
    assert "val accuracy (\\%)" in table and "\\textbf{98.07 $\\pm$ 0.21}" in table
    assert "\\multicolumn{6}{c}{this run}" in table


def test_write_report_csv_only(tmp_path: Path) -> None:
    """Asking for CSV alone writes tables/*.csv and nothing else."""
    paths = write_report([random_study(6)], tmp_path, formats=("csv",))
    assert paths and all(p.suffix == ".csv" for p in paths)
    assert not (tmp_path / "figures").exists()


@pytest.mark.parametrize(
    ("studies", "formats", "match"),
    [
        ([random_study(4)], ("md", "pdf"), r"Unknown report format\(s\) \['pdf'\]"),
        ([], ("md",), "at least one study"),
    ],
)
def test_write_report_errors(tmp_path: Path, studies, formats, match) -> None:
    """Unknown formats and an empty study list are ConfigErrors."""
    with pytest.raises(ConfigError, match=match):
        write_report(studies, tmp_path, formats)


def test_write_report_same_names_get_distinct_files(tmp_path: Path) -> None:
    """Two studies with one name do not overwrite each other's files."""
    paths = write_report([random_study(4), random_study(4)], tmp_path, formats=("csv",))
    names = {p.name for p in paths}
    assert "rnd-trials.csv" in names and "rnd-2-trials.csv" in names


def test_write_report_without_results(tmp_path: Path) -> None:
    """Studies with no finished training still give a report, without empty figures."""
    empty = ablation_study(1, name="empty")
    empty.records = []
    failed = random_study(4)
    for record in failed.records:
        record.status = "failed"
    paths = write_report([empty, failed], tmp_path)
    assert not [p for p in paths if p.suffix == ".png"]
    text = (tmp_path / "report.md").read_text(encoding="utf-8")
    assert "| 0.001\\* | not run | — | — |" in text
    assert text.count("no configuration has finished") == 2
    assert "4 training(s) failed and are left out" in text
