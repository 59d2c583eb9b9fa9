"""Queue writes of many trials in one transaction give the rows Optuna's own calls give,
on SQLite and on PostgreSQL."""

from __future__ import annotations

import threading
import uuid
from collections import Counter
from collections.abc import Iterator

import optuna
import pytest
from optuna.distributions import CategoricalDistribution
from optuna.trial import TrialState

from hpstudy.study import bulk
from hpstudy.study.storage import Store, default_url

FACTORS = {"lr": CategoricalDistribution([0.001, 0.01]), "act": CategoricalDistribution(["a", "b"])}


def template(i: int) -> optuna.trial.FrozenTrial:
    return optuna.trial.create_trial(
        state=TrialState.WAITING, params={"lr": [0.001, 0.01][i % 2], "act": "b"},
        distributions=FACTORS, user_attrs={"params": {"lr": i, "x": [1, "y"]}, "seed": i})


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store(request, tmp_path) -> Iterator[Store]:
    url = request.getfixturevalue("postgres").url if request.param == "postgres" else \
        default_url(tmp_path)
    opened = Store(url)
    yield opened
    opened.close()


def new_study(store: Store) -> optuna.Study:
    return optuna.create_study(study_name=f"s{uuid.uuid4().hex[:8]}", storage=store.storage)


def comparable(trial: optuna.trial.FrozenTrial) -> tuple:
    return (trial.number, trial.state, trial.params, trial.distributions, trial.user_attrs,
            trial.value, trial.datetime_start, trial.datetime_complete)


def test_add_waiting_equals_optuna_add_trial(store: Store) -> None:
    ours, theirs = new_study(store), new_study(store)
    theirs.add_trial(template(0))
    ours.add_trial(template(0))  # numbering continues after trials already there
    bulk.add_waiting(ours, [template(i) for i in range(1, 6)])
    for i in range(1, 6):
        theirs.add_trial(template(i))
    assert [comparable(t) for t in ours.get_trials()] == \
        [comparable(t) for t in theirs.get_trials()]
    assert [w.user_attrs for w in bulk.waiting(ours)] == \
        [{"params": {"lr": i, "x": [1, "y"]}, "seed": i} for i in range(6)]


def test_claim_takes_only_waiting_trials_once(store: Store) -> None:
    study = new_study(store)
    bulk.add_waiting(study, [template(i) for i in range(4)])
    ids = [w.trial_id for w in bulk.waiting(study)]
    assert bulk.claim(study, ids[:3]) == ids[:3]
    assert bulk.claim(study, ids) == ids[3:]  # another worker: only what is left
    assert bulk.claim(study, ids) == []
    trials = study.get_trials()
    assert {t.state for t in trials} == {TrialState.RUNNING}
    assert all(t.datetime_start is not None for t in trials)
    assert bulk.state_counts(study) == {TrialState.RUNNING: 4}
    bulk.beat(study, ids)
    assert study._storage._get_stale_trial_ids(study._study_id) == []


def test_record_stores_results_and_drops_trials_not_running(store: Store) -> None:
    study = new_study(store)
    bulk.add_waiting(study, [template(i) for i in range(4)])
    ids = [w.trial_id for w in bulk.waiting(study)]
    bulk.claim(study, ids[:3])
    outcomes = [bulk.Outcome(ids[0], TrialState.COMPLETE, 0.25, {"status": "complete"}),
                bulk.Outcome(ids[1], TrialState.COMPLETE, float("inf"), {"status": "diverged"}),
                bulk.Outcome(ids[2], TrialState.FAIL, None, {"status": "failed", "error": "x"}),
                bulk.Outcome(ids[3], TrialState.COMPLETE, 1.0, {"status": "complete"})]
    assert bulk.record(study, outcomes) == [ids[3]]  # never claimed: not written
    trials = study.get_trials()
    assert [t.state for t in trials] == [TrialState.COMPLETE, TrialState.COMPLETE,
                                         TrialState.FAIL, TrialState.WAITING]
    assert [t.value for t in trials] == [0.25, float("inf"), None, None]
    assert [t.user_attrs.get("result") for t in trials] == [o.result for o in outcomes[:3]] + \
        [None]
    assert all(t.datetime_complete is not None for t in trials[:3])
    assert study.best_value == 0.25
    assert bulk.record(study, outcomes[:1]) == [ids[0]]  # finished: a second record is dropped
    assert Counter(t.state for t in study.get_trials()) == Counter(bulk.state_counts(study))


def test_concurrent_claims_win_each_trial_once(store: Store) -> None:
    """Four workers claim overlapping batches at once: every trial goes to exactly one."""
    study = new_study(store)
    bulk.add_waiting(study, [template(i) for i in range(40)])
    ids = [w.trial_id for w in bulk.waiting(study)]
    won: list[list[int]] = [[] for _ in range(4)]

    def worker(index: int) -> None:
        order = ids[index * 10:] + ids[:index * 10]  # overlapping, in different orders
        for start in range(0, len(order), 7):
            batch = order[start:start + 7]
            won[index] += store.retry(lambda b=batch: bulk.claim(study, b))

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    claimed = [trial_id for part in won for trial_id in part]
    assert sorted(claimed) == sorted(ids)
    assert bulk.state_counts(study) == {TrialState.RUNNING: 40}


def test_random_slots_drawn_ahead_equal_optuna_suggest_calls(tmp_path) -> None:
    """A random slot filled in one transaction (`draw_ahead`) holds the params, distributions
    and user attributes that `Trial.suggest_*` and `set_user_attr` give with the same sampler:
    float and int ranges on log scales, a list, and a list of one value."""
    from hpstudy.study import queue
    from hpstudy.study.runner import create_or_resume, prepare
    from hpstudy.study.spec import parse_spec
    from hpstudy.study.strategies import get_strategy
    from hpstudy.tasks import get_task

    spec = parse_spec({"name": "r", "task": "houses", "strategy": "random", "seed": 3,
                       "space": {"lr": {"low": 1e-4, "high": 0.1, "log": True},
                                 "width": {"low": 4, "high": 128, "log": True},
                                 "dropout": {"low": 0.0, "high": 0.5},
                                 "activation": ["relu", "tanh", "gelu"], "loss": ["mse"]},
                       "budget": {"n_trials": 3}})
    stored = []
    for way in ("suggest", "ahead"):
        store = Store(f"sqlite:///{tmp_path / f'{way}.db'}")
        create_or_resume(store, prepare(spec, get_task("houses"), False))
        study = store.load("r")
        baseline = study.user_attrs["defaults"]
        for waiting in sorted(queue.waiting(study), key=lambda t: t.number):
            assert queue.claim(store, study, [waiting.trial_id]) == [waiting.trial_id]
            sampler = get_strategy("random").sampler(spec.seed, waiting.number)
            if way == "suggest":
                trial = queue.open_trial(store, study, waiting.trial_id, sampler)
                queue.fill_sampled(store, trial, baseline)
            else:
                queue.draw_ahead(store, study, waiting.trial_id, sampler, baseline)
        fresh = store.load("r")
        stored.append([(t.params, t.distributions, t.user_attrs)
                       for t in fresh.get_trials(deepcopy=False)])
        store.close()
    assert stored[0] == stored[1]
    assert len({attrs["config_id"] for _, _, attrs in stored[0]}) == 3
    assert all(params["loss"] == "mse" and len(params) == 5 for params, _, _ in stored[0])
