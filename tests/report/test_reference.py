"""Tests for reading reference CSVs and for the two preset reference files."""

from __future__ import annotations

from pathlib import Path

import pytest

from hpstudy.errors import ConfigError
from hpstudy.report import read_reference_csv

PRESETS = Path(__file__).resolve().parents[2] / "src" / "hpstudy" / "study" / "presets"
H = "factor,value,train,val,time\n"
FACTORS = ["layers", "width", "activation", "batch_size", "lr", "epochs", "optimizer", "loss"]


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "ref.csv"
    path.write_text(text, encoding="utf-8")
    return path


def test_read_reference_csv_parses_values_and_missing(tmp_path: Path) -> None:
    """Values become int, float or text; '_' and empty numbers become None."""
    path = _write(
        tmp_path,
        "factor,value,train,val,time\n"
        "layers,2,99.08,97.44,14.52\n"
        "lr,0.001,_,97.44,\n"
        "\n"
        "activation, leaky_relu ,98.77,97.37,14.39\n",
    )
    rows = read_reference_csv(path)
    assert rows == [
        {"factor": "layers", "value": 2, "train": 99.08, "val": 97.44, "time": 14.52},
        {"factor": "lr", "value": 0.001, "train": None, "val": 97.44, "time": None},
        {
            "factor": "activation",
            "value": "leaky_relu",
            "train": 98.77,
            "val": 97.37,
            "time": 14.39,
        },
    ]
    assert isinstance(rows[0]["value"], int) and isinstance(rows[1]["value"], float)


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("", r"ref\.csv: the reference file is empty"),
        ("factor,value,train,val\nlr,1,2,3\n", r"row 1: the header must be factor,value,train,"),
        (H, "has a header but no rows"),
        (H + "lr,1,2,3\n", r"row 2: expected 5 fields, found 4"),
        (H + "lr,1,abc,3,4\n", r"row 2: 'train' must be a number or '_'\. Got 'abc'"),
        (H + "lr,1,2,3,4\n\nlr,2,x,3,4\n", r"row 4: 'train' must be a number"),
        (H + "lr,1,2,3,-4\n", r"row 2: 'time' must be a finite number >= 0"),
        (H + "lr,1,2,inf,4\n", r"row 2: 'val' must be a finite number"),
        (H + ",1,2,3,4\n", r"row 2: 'factor' must not be empty"),
        (H + "lr,_,2,3,4\n", r"row 2: 'value' must not be empty"),
        (H + "lr,1,2,3,4\nlr,1.0,2,3,4\n", r"row 3: lr=1\.0 repeats row 2"),
    ],
)
def test_read_reference_csv_errors(tmp_path: Path, text: str, match: str) -> None:
    """Bad input raises ConfigError with one line naming the file, the row and the problem."""
    path = _write(tmp_path, text)
    with pytest.raises(ConfigError, match=match) as info:
        read_reference_csv(path)
    assert "\n" not in str(info.value) and str(path) in str(info.value)


def test_read_reference_csv_missing_file(tmp_path: Path) -> None:
    """A missing file is a ConfigError naming it."""
    with pytest.raises(ConfigError, match=r"nope\.csv: cannot read the reference file"):
        read_reference_csv(tmp_path / "nope.csv")


@pytest.mark.parametrize(
    ("preset", "rows", "default", "spot"),
    [
        (
            "usps-seed",
            28,
            {
                "layers": 2,
                "width": 16,
                "activation": "relu",
                "batch_size": 64,
                "lr": 0.001,
                "epochs": 30,
                "optimizer": "adam",
                "loss": "mse",
            },
            {("lr", 1): (16.23, 17.04, 14.34), ("loss", "cross_entropy"): (99.05, 97.68, 14.35)},
        ),
        (
            "houses-seed",
            30,
            {
                "layers": 3,
                "width": 16,
                "activation": "relu",
                "batch_size": 32,
                "lr": 0.001,
                "epochs": 100,
                "optimizer": "adam",
                "loss": "mse",
            },
            {
                ("activation", "tanh"): (0.145, 0.1875, 0.85),
                ("batch_size", 16): (0.1232, 0.1386, 1.53),
                ("loss", "gaussian_nll"): (None, 0.1589, 0.97),
            },
        ),
    ],
)
def test_preset_reference_files(preset: str, rows: int, default: dict, spot: dict) -> None:
    """The presets hold the appendix numbers, the default row under every factor."""
    data = read_reference_csv(PRESETS / f"{preset}.reference.csv")
    assert len(data) == rows
    assert list(dict.fromkeys(r["factor"] for r in data)) == FACTORS
    by_key = {(r["factor"], r["value"]): (r["train"], r["val"], r["time"]) for r in data}
    default_numbers = {by_key[(f, v)] for f, v in default.items()}
    assert len(default_numbers) == 1  # the same default row under every factor
    for key, numbers in spot.items():
        assert by_key[key] == numbers
