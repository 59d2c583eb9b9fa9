"""Reference numbers (a published report's tables) to show beside a run's own.

The file is a CSV with the header ``factor,value,train,val,time``: one row per value of each
ablation factor, the default configuration's row repeated under every factor. ``value`` is
parsed to match hyperparameter values (int, then float, else text); ``train``, ``val`` and
``time`` are numbers, with ``_`` or an empty cell for a number the reference does not give.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path
from typing import Any

from hpstudy.errors import ConfigError

COLUMNS = ("factor", "value", "train", "val", "time")
NUMBERS = ("train", "val", "time")
MISSING_MARKS = ("", "_")


def parse_value(text: str) -> int | float | str:
    """A hyperparameter value from its text: int, then float, else the text itself."""
    try:
        return int(text)
    except ValueError:
        pass
    try:
        return float(text)
    except ValueError:
        return text


def _parse_number(text: str, column: str, where: str) -> float | None:
    if text in MISSING_MARKS:
        return None
    try:
        number = float(text)
    except ValueError:
        raise ConfigError(f"{where}: '{column}' must be a number or '_'. Got {text!r}.") from None
    if not math.isfinite(number) or (column == "time" and number < 0):
        rule = "a finite number >= 0" if column == "time" else "a finite number"
        raise ConfigError(f"{where}: '{column}' must be {rule}. Got {text!r}.")
    return number


def _parse_row(cells: list[str], where: str) -> dict[str, Any]:
    if len(cells) != len(COLUMNS):
        raise ConfigError(f"{where}: expected {len(COLUMNS)} fields, found {len(cells)}.")
    row = dict(zip(COLUMNS, (c.strip() for c in cells), strict=True))
    for key in ("factor", "value"):
        if row[key] in MISSING_MARKS:
            raise ConfigError(f"{where}: '{key}' must not be empty.")
    parsed: dict[str, Any] = {"factor": row["factor"], "value": parse_value(row["value"])}
    for column in NUMBERS:
        parsed[column] = _parse_number(row[column], column, where)
    return parsed


def read_reference_csv(path: Path | str) -> list[dict[str, Any]]:
    """Rows {factor, value, train, val, time} of a reference CSV (missing numbers are None).

    Raises `ConfigError` with one line naming the file, the row and the problem.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        reason = getattr(error, "strerror", None) or str(error)
        raise ConfigError(f"{path}: cannot read the reference file: {reason}.") from None
    lines = [
        (number, cells)
        for number, cells in enumerate(csv.reader(text.splitlines()), start=1)
        if any(c.strip() for c in cells)
    ]
    if not lines:
        raise ConfigError(f"{path}: the reference file is empty; expected {','.join(COLUMNS)}.")
    number, header = lines[0][0], [c.strip() for c in lines[0][1]]
    if header != list(COLUMNS):
        raise ConfigError(
            f"{path}: row {number}: the header must be {','.join(COLUMNS)}. Got {','.join(header)}."
        )
    rows = []
    seen: dict[tuple[str, Any], int] = {}
    for number, cells in lines[1:]:
        row = _parse_row(cells, f"{path}: row {number}")
        key = (row["factor"], row["value"])
        if key in seen:
            raise ConfigError(
                f"{path}: row {number}: {row['factor']}={row['value']} repeats row {seen[key]}."
            )
        seen[key] = number
        rows.append(row)
    if not rows:
        raise ConfigError(f"{path}: the reference file has a header but no rows.")
    return rows
