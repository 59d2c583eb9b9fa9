"""The report as a list of format-neutral blocks that `render.py` writes as md, HTML and LaTeX."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd


@dataclass(frozen=True)
class Heading:
    level: int  # 1 = the report's title
    text: str


@dataclass(frozen=True)
class Paragraph:
    text: str
    note: bool = False  # a side note (rendered smaller / in italics)


@dataclass(frozen=True)
class Bullets:
    items: list[str]


@dataclass(frozen=True)
class Cell:
    text: str
    bold: bool = False


@dataclass(frozen=True)
class Table:
    """A table as shown (formatted cells) and as data (`data`, written to CSV as is)."""

    name: str  # file stem under tables/
    caption: str
    columns: list[str]
    rows: list[list[Cell]]
    data: pd.DataFrame
    groups: list[tuple[str, int]] | None = None  # header groups (label, span) over the columns


@dataclass(frozen=True)
class Figure:
    """A figure drawn on demand into figures/<name>.png."""

    name: str
    caption: str
    draw: Callable[[Path], Path] = field(repr=False)

    @property
    def filename(self) -> str:
        return f"{self.name}.png"


Block = Heading | Paragraph | Bullets | Table | Figure
