"""Security: study files and stored studies are data (no code runs from them), database
passwords stay out of every output, log and stored attribute, and study names cannot lead
output paths out of their folder."""

from __future__ import annotations

import json
import logging
import os
import string
import subprocess
import sys
import traceback
import uuid
from pathlib import Path

import optuna
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from hpstudy.cli import main
from hpstudy.errors import ConfigError, HPStudyError
from hpstudy.study import storage
from hpstudy.study.spec import parse_spec
from hpstudy.study.storage import Store, default_url, redact

pytestmark = pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning")
PROBE = "hpstudy_security_probe"  # a module that leaves a file behind when imported
MANY = settings(max_examples=200, deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture])


def cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def one_line_error(code: int, out: str, err: str) -> str:
    assert code == 2 and out == "" and len(err.splitlines()) == 1, (code, out, err)
    assert err.startswith("error: ") and "Traceback" not in err
    return err


@pytest.fixture
def probe(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    """(module file, marker): importing the importable module PROBE writes the marker."""
    folder = tmp_path / "modules"
    folder.mkdir()
    marker = tmp_path / "executed"
    module = folder / f"{PROBE}.py"
    module.write_text(f"import pathlib\npathlib.Path({str(marker)!r}).write_text('ran')\n")
    monkeypatch.syspath_prepend(str(folder))
    monkeypatch.delitem(sys.modules, PROBE, raising=False)
    return module, marker


def code_strings(module: Path, marker: Path) -> list[str]:
    return ["os.system", f"__import__('os').system('touch {marker}')", PROBE, str(module),
            f"{PROBE}:task", "subprocess", "hpstudy.tasks.houses", f"$(touch {marker})",
            f"`touch {marker}`; touch {marker}", "builtins.exec"]


@pytest.mark.parametrize("where", ["task", "defaults.activation", "space.loss",
                                   "strategy"])
def test_study_file_strings_never_run_code(where, probe, capsys, tmp_path):
    """Code-like strings in a study file (task, values, strategy) give a one-line error;
    nothing is imported or run, nothing written."""
    module, marker = probe
    for text in code_strings(module, marker):
        fields = {"name": '"s"', "task": '"houses"', "strategy": '"ablation"'}
        tables = ""
        value = json.dumps(text)
        if where in fields:
            fields[where] = value
        else:
            table, key = where.split(".")
            tables = f"[{table}]\n{key} = {value if table == 'defaults' else f'[{value}]'}\n"
        path = tmp_path / "s.toml"
        path.write_text("".join(f"{k} = {v}\n" for k, v in fields.items()) + tables)
        one_line_error(*cli(capsys, "run", str(path), "--out", str(tmp_path / "out")))
        assert not marker.exists() and PROBE not in sys.modules
        assert not (tmp_path / "out").exists()


def test_set_values_never_run_code(probe, capsys):
    """Code-like `--set` values are rejected as values; nothing is imported or run."""
    module, marker = probe
    for text in code_strings(module, marker):
        for key in ("activation", "loss", "optimizer", "lr", text):
            one_line_error(*cli(capsys, "train", "houses", "--set", f"{key}={text}"))
    assert not marker.exists() and PROBE not in sys.modules


def test_stored_task_name_is_not_imported(probe, capsys, tmp_path):
    """A study whose stored `task` names a module (a tampered database): a worker looks the
    name up among registered tasks and stops with one line; only --task-module imports."""
    module, marker = probe
    url = default_url(tmp_path)
    store = Store(url)
    study = optuna.create_study(study_name="t", storage=store.storage)
    for key, value in {"task": PROBE, "spec": {"repeats": 1}, "defaults": {}}.items():
        study.set_user_attr(key, value)
    study.enqueue_trial({}, user_attrs={"params": {}, "seed": 0})
    store.close()
    err = one_line_error(*cli(capsys, "worker", "--storage", url, "--study", "t"))
    assert f"Unknown task {PROBE!r}" in err
    assert not marker.exists() and PROBE not in sys.modules
    err = one_line_error(*cli(capsys, "worker", "--storage", url, "--study", "t",
                              "--task-module", PROBE))
    assert marker.exists() and "has no attribute 'task'" in err  # the explicit way imports


SECRET = "S3cret-Pw_0x5f"


@pytest.mark.parametrize("url", [
    f"postgresql://hpstudy:{SECRET}@127.0.0.1:1/hpstudy",
    f"postgresql://:{SECRET}@127.0.0.1:1/hpstudy",
    f"postgresql://hpstudy@127.0.0.1:1/hpstudy?password={SECRET}",
    f"postgresql://hpstudy:{SECRET}@127.0.0.1:notaport/hpstudy",
    f"postgresql://hpstudy:p@{SECRET}@127.0.0.1:1/hpstudy",
    f"nosuchdb://hpstudy:{SECRET}@127.0.0.1:1/hpstudy",
])
@pytest.mark.parametrize("command", [["status"], ["trials", "--format", "json"], ["worker"],
                                     ["run", "houses-seed", "--epoch-scale", "0.01"]])
def test_unreachable_database_password_stays_hidden(url, command, capsys, caplog, monkeypatch):
    """An unreachable or malformed storage URL: the one-line error, and with --debug the
    traceback and every log record, never show the password."""
    monkeypatch.setattr(storage, "RETRY_DEADLINE_S", 0.05)
    caplog.set_level(logging.DEBUG)
    argv = [*command, "--storage", url] + (["--quiet"] if command[0] == "run" else
                                           ["--study", "s"])
    err = one_line_error(*cli(capsys, *argv))
    assert SECRET not in err and "***" in err
    with pytest.raises(HPStudyError) as raised:
        main(["--debug", *argv])
    shown = "".join(traceback.format_exception(raised.value)) + capsys.readouterr().err
    assert SECRET not in shown + caplog.text
    assert "database unavailable" in caplog.text or isinstance(raised.value, ConfigError)


PASSWORDS = st.text(string.ascii_letters + string.digits + "@:/?#%&=!$*+,;[] ~\n\\'\"",
                    min_size=8, max_size=24)
QUERY_PASSWORDS = st.text(string.ascii_letters + string.digits + "@:/?%=!$*+,[]~'\"",
                          min_size=8, max_size=24)


@MANY
@given(password=PASSWORDS, user=st.text(string.ascii_letters + "._-", max_size=8))
def test_redact_hides_any_password(password, user):
    """Whatever characters the password holds, redact() hides it in a URL or a message."""
    url = f"postgresql+psycopg2://{user}:{password}@db.example:5432/studies"
    assume(password not in f"cannot reach postgresql+psycopg2://{user}:***@db.example:5432/"
                           "studies (timeout)")
    for text in (url, f"cannot reach {url} (timeout)"):
        assert password not in redact(text) and "***" in redact(text)


@MANY
@given(password=QUERY_PASSWORDS)
def test_redact_hides_a_password_parameter(password):
    """A `password=` query parameter is hidden too."""
    url = f"postgresql://db.example:5432/studies?sslmode=require&password={password}"
    assume(password not in "cannot reach postgresql://db.example:5432/studies?sslmode=require"
                           "&password=*** (timeout)")
    for text in (url, f"cannot reach {url} (timeout)"):
        assert password not in redact(text) and "***" in redact(text)


@pytest.mark.postgres
def test_password_never_shown_or_stored(postgres, capsys, caplog, tmp_path):
    """A real study on PostgreSQL, run with --debug: the password is in no output, no log,
    not in the stored spec or attributes, not in status or trials listings."""
    password, url = postgres.password, postgres.url
    name = f"secret-{uuid.uuid4().hex[:8]}"
    path = tmp_path / "s.toml"
    path.write_text(f'name = "{name}"\ntask = "houses"\n[defaults]\nepochs = 1\n'
                    "[space]\nlr = [0.01, 0.1]\n")
    done = subprocess.run([sys.executable, "-m", "hpstudy", "--debug", "run", str(path),
                           "--storage", url, "--jobs", "1"], capture_output=True, text=True,
                          timeout=300, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "sqlalchemy" in done.stderr.lower() or "DEBUG" in done.stderr  # debug logs were on
    outputs = [done.stdout, done.stderr]
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="sqlalchemy")  # its connection and SQL logs too
    for argv in (["status"], ["trials"], ["trials", "--all", "--format", "csv"],
                 ["trials", "--format", "json"], ["worker"]):
        code, out, err = cli(capsys, "--debug", *argv, "--storage", url, "--study", name)
        assert code == 0, err
        outputs += [out, err]
    rows = json.loads(outputs[-4])
    assert len(rows) == 3 and {r["status"] for r in rows} == {"complete"}
    outputs.append(caplog.text)
    assert "password=xxx" in caplog.text  # psycopg2 masks it in the logged connections
    for text in outputs:
        assert password not in text
    study = Store(url).load(name)
    assert study.user_attrs["spec"]["name"] == name
    assert password not in json.dumps(study.user_attrs)
    assert password not in postgres.dump()


BAD_NAMES = ["../x", "/etc/x", "a/b", "..", ".", "~/x", "a\\b", ".hidden", "-rf", "",
             "a" * 101, "x\n", "a/../../x", "studies/../../x", "C:x", "x\x00"]


@pytest.mark.parametrize("name", BAD_NAMES)
def test_study_names_cannot_escape_the_output_folder(name, capsys, tmp_path, monkeypatch):
    """Names that are paths (`../x`, `/etc/x`, `a/b` ...) are refused before anything is
    written, so `studies/NAME` stays inside `studies/`."""
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    (work / "s.toml").write_text(f'name = {json.dumps(name)}\ntask = "houses"\n')
    err = one_line_error(*cli(capsys, "run", "s.toml"))
    assert "'name' must be" in err
    assert [p.name for p in work.iterdir()] == ["s.toml"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["work"]


@MANY
@given(name=st.one_of(st.text(string.ascii_letters + string.digits + "._-/\\~: ", max_size=12),
                      st.text(max_size=12)))
def test_accepted_names_are_one_plain_folder(name):
    """Any name the spec accepts is one path component inside the output folder."""
    try:
        spec = parse_spec({"name": name, "task": "houses"})
    except ConfigError:
        return
    target = os.path.normpath(os.path.join("studies", spec.name))
    assert os.path.dirname(target) == "studies" and spec.name not in (".", "..")
    assert Path("studies", spec.name).resolve().parent == Path("studies").resolve()
