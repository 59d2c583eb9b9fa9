"""bench/hyperband_sync.py: a synchronous Hyperband on an unpruned search's curves costs what
hpstudy's pruned study costs when one worker judges every configuration of a rung together."""

import sys
from pathlib import Path

import optuna
import pytest

from hpstudy.cli import main
from hpstudy.study.pruning.rules import Hyperband

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
from hyperband_sync import Curve, synchronous_hyperband, unpruned_curves  # noqa: E402
from search_space import study_toml  # noqa: E402


def test_one_bracket_keeps_the_best_third_and_a_diverged_one_stops_where_it_did():
    """Two epochs, factor 3: one bracket with its one rung at epoch 1. Of nine configurations
    the best three (rounded up) go on to epoch 2; a diverged one (one epoch) is among them
    but trains no further. Minimizing: lower is better."""
    hyperband = Hyperband(min_epochs=1, reduction_factor=3)
    assert len(hyperband.brackets(2)) == 1
    curves = [Curve(f"c{i}", i, [float(i), float(i)], step_s_per_epoch=10.0 ** (i % 3))
              for i in range(8)]
    curves.append(Curve("diverged", 8, [-1.0], step_s_per_epoch=1000.0))
    cost = synchronous_hyperband(curves, hyperband, 2, maximize=False)
    # epoch 1: all nine; epoch 2: c0 and c1 (the diverged one ranked first, and stopped)
    assert cost.epochs == 9 + 2
    assert cost.step_s == pytest.approx(sum(c.step_s_per_epoch for c in curves) + 1.0 + 10.0)
    maximized = synchronous_hyperband(curves, hyperband, 2, maximize=True)
    assert maximized.step_s == pytest.approx(sum(c.step_s_per_epoch for c in curves)
                                             + 10.0 + 100.0 + 1.0)  # c7, c6, c5 go on


def test_equals_a_one_worker_pruned_study(tmp_path, monkeypatch):
    """The same random search unpruned, then with Hyperband on one worker (its
    configurations side by side, so every rung judged whole): the synchronous cost computed from
    the unpruned curves stops every configuration where the pruned study stopped it."""
    monkeypatch.chdir(tmp_path)
    epochs, n_trials = 9, 12
    hyperband = Hyperband(min_epochs=1, reduction_factor=3)
    for pruner in ("none", "hyperband"):
        text = study_toml(pruner, "houses", "random", n_trials, pruner, seed=3)
        defaults = f"[defaults]\nepochs = {epochs}\n\n[budget]"
        Path(f"{pruner}.toml").write_text(text.replace("[budget]", defaults))
        assert main(["run", f"{pruner}.toml", "--out", pruner, "--jobs", "1", "--quiet"]) == 0
    curves = unpruned_curves(tmp_path / "none" / "study.db", "none")
    assert len(curves) == n_trials
    assert len({hyperband.bracket_of(c.config_id, epochs, c.slot) for c in curves}) > 1
    storage = f"sqlite:///{tmp_path / 'hyperband' / 'study.db'}"
    trials = optuna.load_study(study_name="hyperband", storage=storage).trials
    stopped = {t.user_attrs["config_id"]: t.user_attrs["result"]["epochs_run"] for t in trials}
    assert any(t.state == optuna.trial.TrialState.PRUNED for t in trials)
    synchronous = synchronous_hyperband(curves, hyperband, epochs, maximize=False)
    assert synchronous.trained == stopped
    assert synchronous.epochs == sum(stopped.values()) < n_trials * epochs
