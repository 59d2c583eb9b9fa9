"""Trainings handed from a busy worker to an idle one go on exactly as if never paused."""

import queue as stdlib_queue
import threading

import optuna
import pytest
import torch

from hpstudy.config import Config
from hpstudy.study import queue
from hpstudy.study.runner import create_or_resume, prepare
from hpstudy.study.siblings import Siblings, half_of
from hpstudy.study.spec import parse_spec
from hpstudy.study.storage import Store
from hpstudy.study.worker import Worker, WorkerOptions
from hpstudy.tasks import get_task
from hpstudy.train import PRUNED, Paused, train, train_together

USPS = get_task("usps")
HOUSES = get_task("houses")


def never(epoch, values):
    return set()


def numbers(result):
    """A result without its timing."""
    return {k: v for k, v in result.to_dict().items() if k != "train_time_s"}


class SendAfter:
    """A HandOver that sends `leaving` at its `after`-th call (after that many epochs)."""

    def __init__(self, leaving: set[Config], after: int):
        self.leaving, self.after, self.calls = leaving, after, 0
        self.sent: list[Paused] = []

    def choose(self, running):
        self.calls += 1
        return self.leaving if self.calls == self.after else set()

    def send(self, paused):
        self.sent += paused


@pytest.fixture(scope="module")
def usps_splits():
    return USPS.load_splits(USPS.make_config(), None)


def test_a_paused_cnn_goes_on_elsewhere_as_if_never_paused(usps_splits):
    """A CNN with batch normalization, random shifts and dropout, paused after epoch 1 and
    taken up by a second `train_together` (fresh trainer, other global random state), has the
    curves and final numbers of one uninterrupted training; the one kept is unchanged too."""
    torch.set_num_threads(1)
    base = USPS.make_config({"epochs": 3, "width": 6, "layers": 2, "batch_norm": True,
                             "augment_shift": 1, "dropout": 0.3, "batch_size": 200})
    cfgs = [base.replace(seed=seed) for seed in (0, 1)]
    alone = [train(USPS, cfg, usps_splits) for cfg in cfgs]
    hand = SendAfter({cfgs[1]}, after=1)
    kept = train_together(USPS, cfgs, usps_splits, never, hand_over=hand)
    assert kept[1] is None and numbers(kept[0]) == numbers(alone[0])
    assert [(p.cfg, p.epochs_run) for p in hand.sent] == [(cfgs[1], 1)]
    torch.manual_seed(1234)  # the receiving process's global state is its own
    (went_on,) = train_together(USPS, [cfgs[1]], usps_splits, never,
                                resumed=[hand.sent[0].state])
    assert numbers(went_on) == numbers(alone[1])


def test_a_handed_over_training_can_still_be_pruned():
    """The receiver's judge sees the training at the epochs after the pause: pruned at
    epoch 2 there, its curve is the uninterrupted training's first two epochs."""
    torch.set_num_threads(1)
    cfg = HOUSES.make_config({"epochs": 4, "width": 8, "layers": 2, "dropout": 0.2,
                              "schedule": "cosine"})
    splits = HOUSES.load_splits(cfg, None)
    alone = train(HOUSES, cfg, splits)
    hand = SendAfter({cfg}, after=1)
    assert train_together(HOUSES, [cfg, cfg.replace(seed=1)], splits, never,
                          hand_over=hand)[0] is None
    (pruned,) = train_together(HOUSES, [cfg], splits, lambda e, v: {cfg} if e == 2 else set(),
                               resumed=[hand.sent[0].state])
    assert pruned.status == PRUNED and pruned.epochs_run == 2
    assert pruned.curves["val_metric"] == alone.curves["val_metric"][:2]


def test_trainings_paused_after_different_epochs_are_refused():
    cfg = HOUSES.make_config({"epochs": 4, "width": 8, "schedule": "cosine"})
    splits = HOUSES.load_splits(cfg, None)
    first, second = SendAfter({cfg}, after=1), SendAfter({cfg}, after=2)
    for hand in (first, second):
        train_together(HOUSES, [cfg, cfg.replace(seed=1)], splits, never, hand_over=hand)
    with pytest.raises(ValueError, match="different epochs"):
        train_together(HOUSES, [cfg, cfg], splits, never,
                       resumed=[first.sent[0].state, second.sent[0].state])


def test_half_of_splits_the_cost_evenly():
    assert half_of({"a": 5.0, "b": 4.0, "c": 1.0}) == {"b", "c"}
    assert half_of({"a": 1.0, "b": 1.0}) == {"b"}
    assert half_of({"a": 3.0}) == set()


def thread_siblings() -> Siblings:
    """The channels of a run, for workers in threads of one process."""
    return Siblings(threading.Event(), stdlib_queue.Queue(), stdlib_queue.Queue())


def pruned_study(tmp_path, repeats: int = 1) -> str:
    spec = parse_spec({"name": "p", "task": "houses", "strategy": "random", "seed": 3,
                       "repeats": repeats,
                       "defaults": {"epochs": 6, "schedule": "cosine", "dropout": 0.1},
                       "space": {"width": {"low": 4, "high": 32, "log": True},
                                 "lr": {"low": 1e-3, "high": 3e-2, "log": True}},
                       "budget": {"n_trials": 4},
                       "pruning": {"pruner": "successive_halving", "min_epochs": 2}})
    url = f"sqlite:///{tmp_path / 'study.db'}"
    store = Store(url)
    create_or_resume(store, prepare(spec, HOUSES, False))
    store.close()
    return url


@pytest.mark.parametrize("repeats", [1, 2])
def test_an_idle_worker_takes_over_half_of_a_busy_ones_trainings(tmp_path, repeats):
    """A worker that holds every configuration, asked by an idle sibling, sends about half of
    them (all seeds of a configuration together) after its next epoch; the sibling takes them
    up. Every training is recorded once, each with the numbers of an uninterrupted training
    (pruned ones: its curve up to where it stopped), and the taken-up ones say after which
    epoch they changed hands."""
    torch.set_num_threads(1)
    url = pruned_study(tmp_path, repeats)
    siblings = thread_siblings()
    busy = Worker(WorkerOptions(url=url, study_name="p", workers=1), siblings)
    idle = Worker(WorkerOptions(url=url, study_name="p", workers=1), siblings)
    siblings.ask()  # as `idle` does when it finds nothing to take
    idle.asked = True
    busy_beat, idle_beat = (queue.Heartbeat(w.store, w.study) for w in (busy, idle))
    try:
        trained_by_busy = busy.work_once(busy_beat)
        assert trained_by_busy == 4 * repeats
        assert idle.work_once(idle_beat) > 0
        assert idle.work_once(idle_beat) == 0  # nothing handed twice
    finally:
        for worker, beat in ((busy, busy_beat), (idle, idle_beat)):
            beat.stop()
            worker.store.close()
    store = Store(url)
    trials = optuna.load_study(study_name="p", storage=store.storage).get_trials()
    store.close()
    results = [t.user_attrs["result"] for t in trials]
    assert len(results) == 4 * repeats
    assert all(t.state in (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)
               for t in trials)
    resumed = [t for t in trials if "resumed_at" in t.user_attrs["result"]]
    configs_moved = {t.user_attrs["config_id"] for t in resumed}
    assert resumed and len(resumed) == len(configs_moved) * repeats
    assert {t.user_attrs["result"]["resumed_at"] for t in resumed} == {1}
    splits = HOUSES.load_splits(HOUSES.make_config(), None)
    for trial in trials:
        result = trial.user_attrs["result"]
        cfg = HOUSES.make_config(trial.user_attrs["params"] | {"seed": trial.user_attrs["seed"]})
        alone = train(HOUSES, cfg, splits)
        stopped = result["epochs_run"]
        assert result["curves"]["val_metric"] == alone.curves["val_metric"][:stopped]
        if stopped == cfg.epochs:
            assert result["val_metric"] == alone.val_metric


def test_hpstudy_run_hands_over_between_its_worker_processes(tmp_path):
    """Two worker processes of `hpstudy run` on three configurations: one takes two, the other
    one, finishes first and takes over a running training of the first; every training ends
    complete once, with the numbers of an uninterrupted training in this process."""
    from hpstudy.cli import main

    study = tmp_path / "h.toml"
    study.write_text('name = "h"\ntask = "houses"\nstrategy = "random"\nseed = 0\n'
                     '[defaults]\nepochs = 200\nschedule = "cosine"\n'
                     '[space]\nwidth = {low = 8, high = 16, log = true}\n'
                     '[budget]\nn_trials = 3\n'
                     '[pruning]\npruner = "median"\nwarmup_trials = 10\n')  # prunes nothing
    out = tmp_path / "h"
    assert main(["run", str(study), "--out", str(out), "--jobs", "2", "--quiet"]) == 0
    store = Store(f"sqlite:///{out / 'study.db'}")
    trials = optuna.load_study(study_name="h", storage=store.storage).get_trials()
    store.close()
    assert [t.state for t in trials] == [optuna.trial.TrialState.COMPLETE] * 3
    assert sum("resumed_at" in t.user_attrs["result"] for t in trials) == 1
    torch.set_num_threads(1)
    splits = HOUSES.load_splits(HOUSES.make_config(), None)
    for trial in trials:
        cfg = HOUSES.make_config(trial.user_attrs["params"] | {"seed": trial.user_attrs["seed"]})
        alone = train(HOUSES, cfg, splits)
        assert trial.user_attrs["result"]["curves"]["val_metric"] == alone.curves["val_metric"]
