"""Hostile input through the command line: malformed study files, `--set` values, run options
and data files end with exit 2 and one line on stderr, never a traceback, and write nothing.

Generated inputs are invalid by construction (each breaks one documented rule), so a run that
exits 0 is a bug. The CLI runs in-process (`main([...])`) to keep 200+ examples per test fast.
"""

from __future__ import annotations

import bz2
import datetime
import io
import json
import math
import string
import tomllib
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from hpstudy.cli import main
from hpstudy.config import ACTIVATIONS, OPTIMIZERS
from hpstudy.study.spec import BUDGET_KEYS, TOP_KEYS
from hpstudy.study.storage import Store, default_url
from hpstudy.study.strategies import STRATEGIES
from hpstudy.tasks import get_task, list_tasks, usps_data
from hpstudy.train_params import SCHEDULES

MANY = settings(max_examples=200, deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
HOUSES = get_task("houses")
PARAMS = HOUSES.param_names
CHOICES = {"activation": ACTIVATIONS, "optimizer": OPTIMIZERS, "schedule": SCHEDULES,
           "loss": ("mse", "gaussian_nll")}
VALID_BASE: dict[str, Any] = {"name": "s", "task": "houses", "strategy": "ablation",
                              "defaults": {"epochs": 1}, "space": {"lr": [0.01]}}


# --- running the CLI -------------------------------------------------------------------------

def cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def assert_one_line_error(code: int, out: str, err: str) -> None:
    assert code == 2, (code, out, err)
    assert out == ""
    assert err.startswith("error: ") and err.endswith("\n")
    assert len(err.splitlines()) == 1, err
    assert "Traceback" not in err


def run_spec(capsys: pytest.CaptureFixture[str], folder: Path, text: str | bytes,
             *options: str) -> None:
    """`hpstudy run FILE --out DIR` on a bad file: one line, and no study written."""
    path = folder / "study.toml"
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    out = folder / "out"
    assert_one_line_error(*cli(capsys, "run", str(path), "--out", str(out), "--quiet", *options))
    assert not out.exists()
    assert sorted(p.name for p in folder.iterdir()) == ["study.toml"]


# --- TOML text from data ---------------------------------------------------------------------

def toml_key(key: str) -> str:
    return key if key and all(c in string.ascii_letters + string.digits + "_-" for c in key) \
        else toml_string(key)


def toml_string(text: str) -> str:
    return json.dumps(text, ensure_ascii=False).replace("\x7f", "\\u007f")


def toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return "nan" if math.isnan(value) else repr(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return toml_string(value)
    if isinstance(value, datetime.date):
        return value.isoformat()
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    return "{" + ", ".join(f"{toml_key(k)} = {toml_value(v)}" for k, v in value.items()) + "}"


def toml_document(data: dict[str, Any]) -> str:
    return "".join(f"{toml_key(k)} = {toml_value(v)}\n" for k, v in data.items())


# --- invalid values --------------------------------------------------------------------------

SCALARS = st.one_of(st.integers(min_value=-2**63, max_value=2**63 - 1), st.floats(),
                    st.text(max_size=20), st.booleans(), st.dates(), st.datetimes())
VALUES = st.recursive(SCALARS, lambda inner: st.one_of(
    st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=8), inner, max_size=3)),
    max_leaves=6)
NOT_INT = st.one_of(st.floats(), st.text(max_size=10), st.booleans(), st.dates(),
                    st.lists(st.integers(), max_size=2))
NOT_NUMBER = st.one_of(st.text(max_size=10), st.booleans(), st.dates(),
                       st.lists(st.floats(), max_size=2), st.dictionaries(st.text(), st.integers(),
                                                                          max_size=2))
NOT_STRING = st.one_of(st.integers(), st.floats(), st.booleans(), st.dates(),
                       st.lists(st.text(), max_size=2))


def not_in(choices: tuple[str, ...]) -> st.SearchStrategy[Any]:
    return st.one_of(st.text(max_size=12).filter(lambda s: s not in choices), NOT_STRING)


def invalid_value(param: str) -> st.SearchStrategy[Any]:
    """A TOML value breaking the rule of the houses hyperparameter `param`."""
    if param in ("layers", "width", "batch_size", "epochs"):
        return st.one_of(st.integers(max_value=0), NOT_INT)
    if param in ("seed", "warmup_epochs"):
        return st.one_of(st.integers(max_value=-1), NOT_INT)
    if param in ("momentum", "dropout"):  # a float in [0, 1)
        return st.one_of(st.integers(max_value=-1), st.integers(min_value=1), st.floats().filter(
            lambda x: not 0 <= x < 1), NOT_NUMBER)
    if param == "lr":
        return st.one_of(st.integers(max_value=0), st.floats().filter(lambda x: not x > 0
                                                                         or math.isinf(x)),
                         NOT_NUMBER)
    if param in ("weight_decay", "grad_clip"):
        return st.one_of(st.integers(max_value=-1), st.floats().filter(
            lambda x: not x >= 0 or math.isinf(x)), NOT_NUMBER)
    if param == "normalize":
        return st.one_of(st.integers(), st.floats(), st.text(max_size=6), st.dates())
    return not_in(CHOICES[param])


def unknown(known: tuple[str, ...]) -> st.SearchStrategy[str]:
    return st.text(min_size=1, max_size=12).filter(lambda k: k not in known)


def bad_names() -> st.SearchStrategy[Any]:
    forbidden = st.sampled_from(list("/\\ :*$\n\t\x00é~'\"") + ["\u2028"])
    inside = st.tuples(st.text(string.ascii_letters, max_size=5), forbidden,
                       st.text(max_size=5)).map(lambda t: "a" + "".join(t))
    leading = st.tuples(st.sampled_from([".", "-", "_", "..", "/", "~"]),
                        st.text(string.ascii_letters, max_size=5)).map("".join)
    return st.one_of(st.just(""), inside, leading, st.just("a" * 101), NOT_STRING,
                     st.sampled_from(["../x", "/etc/x", "a/b", "..", "."]))


def mutation() -> st.SearchStrategy[tuple[str, Any, Any]]:
    """(what, key, value): one change that makes VALID_BASE invalid."""
    param = st.sampled_from(PARAMS)
    return st.one_of(
        st.tuples(st.just("top"), unknown(TOP_KEYS), VALUES),
        st.tuples(st.just("top"), st.just("name"), bad_names()),
        st.tuples(st.just("top"), st.just("task"), st.one_of(NOT_STRING, st.text(max_size=12))),
        st.tuples(st.just("top"), st.just("strategy"),
                  st.one_of(NOT_STRING, st.text(max_size=12).filter(lambda s: s not in
                                                                    STRATEGIES))),
        st.tuples(st.just("top"), st.just("repeats"), st.one_of(st.integers(max_value=0),
                                                                 NOT_INT)),
        st.tuples(st.just("top"), st.just("description"), NOT_STRING),
        st.tuples(st.just("top"), st.sampled_from(["defaults", "space", "budget"]),
                  st.one_of(SCALARS, st.lists(SCALARS, max_size=2))),
        st.tuples(st.just("drop"), st.sampled_from(["name", "task"]), st.none()),
        st.tuples(st.just("space"), param, st.one_of(st.just([]), SCALARS,
                                                     st.dictionaries(st.text(), SCALARS))),
        st.tuples(st.just("space"), unknown(PARAMS), st.lists(SCALARS, min_size=1, max_size=2)),
        st.tuples(st.just("space"), st.just("seed"), st.lists(st.integers(0, 9), min_size=1)),
        param.flatmap(lambda p: st.tuples(st.just("space"), st.just(p),
                                          invalid_value(p).map(lambda v: [v]))),
        st.tuples(st.just("defaults"), unknown(PARAMS), SCALARS),
        param.flatmap(lambda p: st.tuples(st.just("defaults"), st.just(p), invalid_value(p))),
        st.tuples(st.just("budget"), unknown(BUDGET_KEYS), SCALARS),
        st.tuples(st.just("budget"), st.just("n_trials"), st.one_of(st.integers(max_value=0),
                                                                    NOT_INT)),
        st.tuples(st.just("budget"), st.just("max_minutes"), st.one_of(
            st.integers(max_value=0), st.floats().filter(lambda x: not 0 < x < math.inf),
            NOT_NUMBER)),
        st.tuples(st.just("sampler"), st.sampled_from(["random", "tpe"]), st.none()),
        st.tuples(st.just("nospace"), st.sampled_from(["grid", "random", "tpe"]), st.none()),
    )


def mutated(change: tuple[str, Any, Any]) -> dict[str, Any]:
    what, key, value = change
    data = json.loads(json.dumps(VALID_BASE))
    if what == "top":
        data[key] = value
    elif what == "drop":
        del data[key]
    elif what in ("space", "defaults"):
        data[what] = {key: value}
    elif what == "budget":
        data["budget"] = {key: value}
    elif what == "sampler":
        data["strategy"] = key
    else:
        data.update(strategy=key, space={}, budget={"n_trials": 2})
    return data


@MANY
@given(change=mutation())
def test_malformed_study_file_is_one_line_and_writes_nothing(change, capsys, tmp_path):
    """Each broken rule of the study file: exit 2, one stderr line, no --out, no study.db."""
    if change[:2] == ("top", "task"):
        assume(change[2] not in [task.name for task in list_tasks()])
    folder = tmp_path / "case"
    folder.mkdir(exist_ok=True)
    for path in folder.iterdir():
        path.unlink()
    text = toml_document(mutated(change))
    assert set(tomllib.loads(text)) == set(mutated(change))  # the file is valid TOML
    run_spec(capsys, folder, text)


TOML_PIECES = st.sampled_from([
    "name = ", "task = ", '"houses"', '"s"', "[space]", "[defaults]", "[budget]", "\n", " = ",
    "[", "]", "{", "}", ",", '"', "'", "lr", "=", "1", "-1", "nan", "inf", "true", "[[a]]",
    "strategy", '"grid"', "#", "\\", "\t", "0x1F", "1979-05-27", "\x00", "é",
])


@MANY
@given(text=st.one_of(st.text(), st.lists(TOML_PIECES).map("".join),
                      st.lists(st.one_of(TOML_PIECES, st.text(max_size=3))).map("".join),
                      st.binary()))
def test_random_study_text_is_one_line_and_writes_nothing(text, capsys, tmp_path):
    """Random text, TOML-like fragments and random bytes as a study file: exit 2, one line."""
    try:
        data = tomllib.loads(text.decode() if isinstance(text, bytes) else text)
        assume(not (isinstance(data.get("name"), str) and isinstance(data.get("task"), str)))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError):
        pass
    folder = tmp_path / "case"
    folder.mkdir(exist_ok=True)
    for path in folder.iterdir():
        path.unlink()
    run_spec(capsys, folder, text)


def numbers_as_text(kind: str) -> st.SearchStrategy[str]:
    """Command-line text of invalid values for an int >= 1 / int >= 0 / float > 0 option."""
    words = st.text(string.ascii_letters + "_-%", min_size=1, max_size=8).filter(
        lambda s: s.lower() not in ("inf", "nan", "infinity"))
    blank = st.sampled_from(["", " ", "\t"])
    if kind == "float>0":
        return st.one_of(st.floats(max_value=0).map(repr), st.sampled_from(
            ["nan", "inf", "-inf", "1e999", "NaN", "-0.0", "0"]), words, blank)
    low = 0 if kind == "int>=1" else -1
    return st.one_of(st.integers(max_value=low).map(str), st.floats().filter(
        lambda x: not x.is_integer() if math.isfinite(x) else True).map(repr), words, blank)


@MANY
@given(option=st.sampled_from(["--jobs", "--repeats", "--epoch-scale"]), data=st.data())
def test_invalid_run_options_are_one_line_and_write_nothing(option, data, capsys, tmp_path):
    """Bad --jobs / --repeats / --epoch-scale for a valid preset: exit 2, nothing written."""
    kind = "float>0" if option == "--epoch-scale" else "int>=1"
    value = data.draw(numbers_as_text(kind))
    out = tmp_path / "out"
    assert_one_line_error(*cli(capsys, "run", "houses-seed", "--out", str(out), "--quiet",
                               f"{option}={value}"))
    assert not out.exists()


def invalid_set_text(param: str) -> st.SearchStrategy[str]:
    """`--set` text for `param` that breaks its rule (as the CLI parses values)."""
    if param in ("layers", "width", "batch_size"):
        return numbers_as_text("int>=1")
    if param in ("seed", "warmup_epochs"):
        return numbers_as_text("int>=0")
    if param == "lr":
        return numbers_as_text("float>0")
    if param in ("momentum", "dropout"):
        return st.one_of(st.floats().filter(lambda x: not 0 <= x < 1).map(repr),
                         st.integers().filter(lambda x: x != 0).map(str),
                         st.sampled_from(["nan", "inf", "1.0", "none", "0.9.1"]))
    if param in ("weight_decay", "grad_clip"):
        return st.one_of(st.floats(max_value=-1e-300).map(repr), st.integers(max_value=-1)
                         .map(str), st.sampled_from(["nan", "inf", "true", "zero"]))
    if param == "normalize":
        return st.one_of(st.integers().map(str), st.sampled_from(["yes", "no", "on", "", "1.0"]),
                         st.text(string.ascii_letters, min_size=1, max_size=6).filter(
                             lambda s: s.lower() not in ("true", "false")))
    choices = CHOICES[param]
    return st.one_of(st.text(max_size=12).filter(lambda s: s.strip() not in choices),
                     st.integers().map(str), st.sampled_from(["true", "1.5", "RELU", " "]))


def set_items() -> st.SearchStrategy[str]:
    params = [p for p in PARAMS if p != "epochs"]  # `--set epochs=1` follows
    known = st.sampled_from(params).flatmap(
        lambda p: invalid_set_text(p).map(lambda v: f"{p}={v}"))
    unknown_key = st.tuples(st.text(string.ascii_letters + "_", min_size=1, max_size=10).filter(
        lambda k: k not in PARAMS), st.text(max_size=6)).map(lambda t: f"{t[0]}={t[1]}")
    malformed = st.one_of(st.text(max_size=12).filter(lambda s: "=" not in s),
                          st.text(max_size=6).map(lambda v: f"={v}"),
                          st.text(" \t", min_size=1, max_size=3).map(lambda k: f"{k}=1"))
    return st.one_of(known, unknown_key, malformed)


@MANY
@given(item=set_items())
def test_invalid_set_values_are_one_line(item, capsys):
    """`hpstudy train houses --set BAD --set epochs=1 --json`: exit 2, one line, no training."""
    assert_one_line_error(*cli(capsys, "train", "houses", "--set", item, "--set", "epochs=1",
                               "--json"))


# --- data files ------------------------------------------------------------------------------

def small_h5(path: Path) -> None:
    with h5py.File(path, "w") as handle:
        for split, rows in (("train", 7291), ("test", 2007)):
            handle[f"{split}/data"] = np.zeros((rows, 256), dtype=np.float32)
            handle[f"{split}/target"] = np.zeros(rows, dtype=np.int32)


def truncated_h5(folder: Path) -> str:
    path = folder / "usps.h5"
    small_h5(path)
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 3])
    return "usps.h5 is truncated or corrupt"


def bad_bz2(folder: Path) -> str:
    (folder / "usps.bz2").write_bytes(bz2.compress(b"1 1:0.5\n")[:-9])
    (folder / "usps.t.bz2").write_bytes(b"BZh9 not really bz2")
    return "usps.bz2 is truncated or corrupt"


def md5_mismatch(folder: Path) -> str:
    """No files: they are downloaded, from a fake server that sends the wrong bytes."""
    return "usps.bz2 downloaded from"


@pytest.mark.parametrize("make", [truncated_h5, bad_bz2, md5_mismatch])
def test_bad_usps_data_is_one_line(make, capsys, tmp_path, monkeypatch):
    """A truncated usps.h5, a corrupt usps.bz2, a download failing its md5 check: exit 2 and
    one line naming the file, from `hpstudy train` and from `hpstudy run` (which writes
    nothing)."""
    monkeypatch.setenv("HPSTUDY_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr("urllib.request.urlopen",
                        lambda url, timeout=None: io.BytesIO(b"not the usps file"))
    folder = tmp_path / "data"
    folder.mkdir()
    expected = make(folder)
    code, out, err = cli(capsys, "train", "usps", "--data-dir", str(folder), "--set",
                         "epochs=1", "--json")
    assert_one_line_error(code, out, err)
    assert expected in err
    if make is md5_mismatch:
        assert "has md5" in err and usps_data.MD5["usps.bz2"] in err
        assert list(folder.iterdir()) == []  # the bad download was deleted
    code, out, err = cli(capsys, "run", "usps-seed", "--data-dir", str(folder), "--out",
                         str(tmp_path / "out"), "--quiet")
    assert_one_line_error(code, out, err)
    assert expected in err and not (tmp_path / "out").exists()


def test_missing_data_dir_is_one_line(capsys, tmp_path):
    """A --data-dir that does not exist: exit 2, one line naming it."""
    code, out, err = cli(capsys, "train", "usps", "--data-dir", str(tmp_path / "nope"))
    assert_one_line_error(code, out, err)
    assert "nope" in err


@pytest.mark.parametrize("url", [
    "nonsense", "nosuchdb://u:pw@h/db", "postgresql://u:pw@h:notaport/db", "mysql://u:pw@h/db",
    "sqlite:////proc/no/such/dir/study.db",
])
@pytest.mark.parametrize("command", ["status", "worker", "run"])
def test_bad_storage_url_is_one_line(url, command, capsys):
    """A storage URL that names no usable database: exit 2, one line, no traceback."""
    argv = ["run", "houses-seed", "--quiet"] if command == "run" else [command, "--study", "s"]
    assert_one_line_error(*cli(capsys, *argv, "--storage", url))


@pytest.mark.parametrize("command", ["status", "trials", "worker"])
def test_reading_a_missing_sqlite_study_creates_nothing(command, capsys, tmp_path):
    """status, trials and worker on a SQLite file that does not exist: one line, and no
    database (nor folder) is created."""
    url = f"sqlite:///{tmp_path / 'nope' / 'study.db'}"
    assert_one_line_error(*cli(capsys, command, "--storage", url, "--study", "s"))
    assert list(tmp_path.iterdir()) == []


def test_output_folder_that_cannot_be_made_is_one_line(capsys, tmp_path):
    """--out naming a file (or a folder under a file): exit 2, one line, the file untouched."""
    blocker = tmp_path / "file"
    blocker.write_text("keep")
    for out in (blocker, blocker / "sub"):
        assert_one_line_error(*cli(capsys, "run", "houses-seed", "--epoch-scale", "0.01",
                                   "--quiet", "--out", str(out)))
    assert blocker.read_text() == "keep"


@pytest.mark.parametrize("body", [
    'repeats = 1000000000000\n[space]\nlr = [0.1]\n',
    'strategy = "random"\n[space]\nlr = [0.1, 0.01]\n[budget]\nn_trials = 1000000000000000\n',
    'repeats = 99999999999999999999999\n',
])
def test_huge_study_needs_yes(body, capsys, tmp_path):
    """A study of absurdly many trainings asks for --yes at once (not after listing them)."""
    path = tmp_path / "big.toml"
    path.write_text(f'name = "big"\ntask = "houses"\n{body}')
    code, out, err = cli(capsys, "run", str(path), "--out", str(tmp_path / "o"))
    assert_one_line_error(code, out, err)
    assert "trainings (more than 1,000); pass --yes" in err
    assert not (tmp_path / "o").exists()


def test_huge_repeats_option_needs_yes(capsys, tmp_path):
    """`--repeats 10**12` on a preset asks for --yes and writes nothing."""
    code, out, err = cli(capsys, "run", "houses-seed", "--repeats", str(10**12), "--out",
                         str(tmp_path / "o"))
    assert_one_line_error(code, out, err)
    assert "23,000,000,000,000 trainings" in err and "--yes" in err
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize(("heartbeat", "grace", "message"), [
    ("abc", "20", "HPSTUDY_HEARTBEAT_S must be an int >= 1. Got 'abc'"),
    ("5", "0", "HPSTUDY_GRACE_S must be an int >= 1. Got '0'"),
    ("5", "-3", "HPSTUDY_GRACE_S must be an int >= 1"),
    ("10", "10", "HPSTUDY_GRACE_S (10) must be greater than HPSTUDY_HEARTBEAT_S (10)"),
])
def test_bad_heartbeat_settings_are_one_line(heartbeat, grace, message, capsys, tmp_path,
                                             monkeypatch):
    """Bad HPSTUDY_HEARTBEAT_S / HPSTUDY_GRACE_S: exit 2 and one line naming the variable."""
    url = default_url(tmp_path)
    Store(url).close()
    monkeypatch.setenv("HPSTUDY_HEARTBEAT_S", heartbeat)
    monkeypatch.setenv("HPSTUDY_GRACE_S", grace)
    code, out, err = cli(capsys, "status", "--storage", url, "--study", "s")
    assert_one_line_error(code, out, err)
    assert message in err
