"""Running studies end to end through the CLI: counts, resume after a crash, sampler studies."""

import json
import multiprocessing
import threading
import time

import optuna
import pytest

from hpstudy.cli import main
from hpstudy.study import queue, storage
from hpstudy.study.runner import create_or_resume, prepare
from hpstudy.study.spec import load_spec
from hpstudy.study.storage import Store, default_url
from hpstudy.study.worker import idle_wait
from hpstudy.tasks import get_task

TINY = "0.02"  # houses-seed epochs 50..1000 become 1..20


def trials_json(capsys, out, *extra):
    assert main(["trials", str(out), "--format", "json", *extra]) == 0
    return json.loads(capsys.readouterr().out)


def keys(rows):
    return [(json.dumps(r["params"], sort_keys=True), r["seed"]) for r in rows]


def test_run_houses_seed_23_trainings_once(tmp_path, capsys):
    """houses-seed runs 23 trainings, one per configuration, all complete."""
    out = tmp_path / "h"
    assert main(["run", "houses-seed", "--out", str(out), "--epoch-scale", TINY, "--jobs", "2",
                 "--quiet"]) == 0
    rows = trials_json(capsys, out)
    assert len(rows) == 23 and len(set(keys(rows))) == 23
    assert {r["status"] for r in rows} == {"complete"}
    assert {"number", "status", "params", "seed", "train_metric", "val_metric",
            "train_time_s"} <= set(rows[0])
    assert "seed" not in rows[0]["params"]


def test_run_again_redoes_nothing(tmp_path, capsys):
    """A second run of a finished study trains nothing new."""
    out = tmp_path / "h"
    args = ["run", "houses-seed", "--out", str(out), "--epoch-scale", TINY, "--quiet"]
    assert main(args) == 0
    assert main(args) == 0
    rows = trials_json(capsys, out, "--all")
    assert len(rows) == 23


def test_resume_retries_trainings_left_running(tmp_path, capsys, monkeypatch):
    """Trainings left running by a dead worker are retried; nothing is duplicated."""
    monkeypatch.setattr(storage, "HEARTBEAT_INTERVAL_S", 1)
    monkeypatch.setattr(storage, "GRACE_PERIOD_S", 1)
    out = tmp_path / "h"
    spec = load_spec("houses-seed").with_overrides(None, 0.02)
    task = get_task("houses")
    store = Store(default_url(out))
    study = create_or_resume(store, prepare(spec, task, False))
    dead = [t.trial_id for t in queue.waiting(study)[:3]]
    assert queue.claim(store, study, dead) == dead  # a worker claimed three, then died
    store.close()
    assert main(["run", "houses-seed", "--out", str(out), "--epoch-scale", TINY, "--quiet"]) == 0
    rows = trials_json(capsys, out)
    assert len(rows) == 23 and {r["status"] for r in rows} == {"complete"}
    attempts = trials_json(capsys, out, "--all")
    assert sum(r["status"] == "failed" for r in attempts) == 3
    assert len(attempts) == 26


def test_run_with_other_spec_under_same_study_is_an_error(tmp_path, capsys):
    """Running a different spec under an existing study says so (exit 2)."""
    out = tmp_path / "h"
    assert main(["run", "houses-seed", "--out", str(out), "--epoch-scale", TINY, "--quiet"]) == 0
    code = main(["run", "houses-seed", "--out", str(out), "--epoch-scale", "0.03", "--quiet"])
    assert code == 2 and "different spec" in capsys.readouterr().err


def test_repeats_give_seeds_per_configuration(tmp_path, capsys):
    """--repeats 2 trains every configuration with seeds 0 and 1."""
    out = tmp_path / "h"
    assert main(["run", "houses-seed", "--out", str(out), "--epoch-scale", "0.01",
                 "--repeats", "2", "--quiet"]) == 0
    rows = trials_json(capsys, out)
    assert len(rows) == 44 and sorted({r["seed"] for r in rows}) == [0, 1]


@pytest.mark.parametrize("strategy", ["random", "tpe"])
def test_sampler_study_runs_and_resumes(tmp_path, capsys, strategy):
    """random/tpe studies train n_trials x repeats configurations; a rerun adds nothing."""
    path = tmp_path / "s.toml"
    path.write_text(f'name = "s"\ntask = "houses"\nstrategy = "{strategy}"\nrepeats = 2\n'
                    '[defaults]\nepochs = 2\n[space]\nlr = [0.0001, 0.001, 0.01, 0.1]\n'
                    'layers = [1, 2, 3]\nwidth = [8, 16]\n[budget]\nn_trials = 5\n')
    out = tmp_path / "out"
    assert main(["run", str(path), "--out", str(out), "--quiet"]) == 0
    rows = trials_json(capsys, out)
    assert len(rows) == 10 and {r["status"] for r in rows} == {"complete"}
    configs = {json.dumps(r["params"], sort_keys=True) for r in rows}
    assert len(configs) == 5
    assert main(["run", str(path), "--out", str(out), "--quiet"]) == 0
    assert len(trials_json(capsys, out, "--all")) == 10
    study = optuna.load_study(study_name="s", storage=default_url(out))
    assert all(set(t.params) == {"lr", "layers", "width"} for t in study.trials
               if t.state.is_finished())


def test_grid_over_1000_needs_yes(tmp_path, capsys):
    """A grid of more than 1,000 trainings asks for --yes and writes nothing."""
    path = tmp_path / "g.toml"
    values = ", ".join(str(v) for v in range(1, 41))
    path.write_text(f'name = "g"\ntask = "houses"\nstrategy = "grid"\n[space]\n'
                    f'layers = [{values}]\nwidth = [{values}]\n')
    code = main(["run", str(path), "--out", str(tmp_path / "o"), "--quiet"])
    assert code == 2 and "1,600 trainings" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_coordinate_study_runs_rounds(tmp_path, capsys):
    """A coordinate study trains its first round, then rounds until nothing moves."""
    path = tmp_path / "c.toml"
    path.write_text('name = "c"\ntask = "houses"\nstrategy = "coordinate"\n[defaults]\n'
                    'epochs = 3\n[space]\nlr = [0.001, 0.01]\nwidth = [8, 32]\n')
    out = tmp_path / "o"
    assert main(["run", str(path), "--out", str(out), "--quiet"]) == 0
    rows = trials_json(capsys, out)
    assert len(rows) >= 5 and len(set(keys(rows))) == len(rows)
    study = optuna.load_study(study_name="c", storage=default_url(out))
    assert len(study.user_attrs["coordinate_bases"]) >= 1


def test_idle_worker_wakes_when_a_sibling_records() -> None:
    wake = multiprocessing.get_context("fork").Event()
    threading.Timer(0.1, wake.set).start()
    started = time.perf_counter()
    idle_wait(wake, 10.0)
    assert time.perf_counter() - started < 5.0
    started = time.perf_counter()
    idle_wait(None, 0.05)
    assert time.perf_counter() - started >= 0.05


RANGES = ('task = "houses"\n[defaults]\nepochs = 2\n[space]\n'
          'lr = {low = 0.0001, high = 0.1, log = true}\nwidth = {low = 4, high = 64, log = true}\n'
          'activation = ["relu", "tanh"]\n[budget]\nn_trials = 6\n')


def sampled_params(capsys, out):
    return [(r["params"]["lr"], r["params"]["width"], r["params"]["activation"])
            for r in trials_json(capsys, out)]


def test_sampler_study_over_ranges_draws_inside_them(tmp_path, capsys):
    """A tpe study over log ranges draws floats and ints inside them, not on a grid, and
    `hpstudy status` names its sampler and seed."""
    path = tmp_path / "s.toml"
    path.write_text('name = "s"\nstrategy = "tpe"\n' + RANGES)
    out = tmp_path / "out"
    assert main(["run", str(path), "--out", str(out), "--jobs", "2", "--quiet"]) == 0
    params = sampled_params(capsys, out)
    assert len(params) == 6 and len({lr for lr, _, _ in params}) == 6
    assert all(1e-4 <= lr <= 0.1 and 4 <= width <= 64 and isinstance(width, int)
               for lr, width, _ in params)
    assert main(["status", str(out)]) == 0
    assert "sampler: TPESampler (multivariate, constant liar), seed 0" in capsys.readouterr().out
    study = optuna.load_study(study_name="s", storage=default_url(out))
    assert study.user_attrs["spec"]["space"]["lr"]["log"] is True


def test_random_study_repeats_with_its_seed(tmp_path, capsys):
    """One worker, the same file and seed: the same configurations in the same order; another
    seed draws others; status names the random sampler."""
    runs = {}
    for name, seed in (("a", 0), ("b", 0), ("c", 5)):
        path = tmp_path / f"{name}.toml"
        path.write_text(f'name = "r"\nstrategy = "random"\nseed = {seed}\n' + RANGES)
        assert main(["run", str(path), "--out", str(tmp_path / name), "--jobs", "1",
                     "--quiet"]) == 0
        runs[name] = sampled_params(capsys, tmp_path / name)
    assert runs["a"] == runs["b"] and runs["a"] != runs["c"]
    assert main(["status", str(tmp_path / "c")]) == 0
    assert "sampler: RandomSampler, seed 5\n" in capsys.readouterr().out
