"""How far a study has come (what the final choice waits for), and what a stored choice says."""

from __future__ import annotations

from typing import Any

import pytest

from hpstudy.study.plans import config_id
from hpstudy.study.progress import Progress, describe_choice, since_choice, study_progress
from hpstudy.study.records import StudyData, TrainingRecord
from hpstudy.study.spec import StudySpec

BASE = {"width": 16, "lr": 0.001}


def record(number: int, status: str, params: dict[str, Any] | None = None, seed: int = 0,
           val: float | None = None, role: str = "study") -> TrainingRecord:
    params = {} if params is None else params
    return TrainingRecord(number=number, status=status, params=params, seed=seed,
                          config_id=config_id(params) if params else "", val_metric=val,
                          role=role)


def study(records: list[TrainingRecord], strategy: str = "ablation", repeats: int = 1,
          bases: list[dict[str, Any]] | None = None) -> StudyData:
    spec = StudySpec(name="s", task="houses", strategy=strategy, repeats=repeats,
                     defaults=dict(BASE), space={"width": [8, 16], "lr": [0.001, 0.01]})
    return StudyData(name="s", spec=spec, task="houses", direction="maximize",
                     metric_name="accuracy", defaults=dict(BASE), records=records,
                     rounds={"coordinate_bases": bases} if bases else {})


def test_progress_counts_latest_attempts_by_state() -> None:
    """A retried training counts once (its latest attempt); final-choice retrainings not at
    all; failed trainings are done, waiting and running ones remain."""
    records = [
        record(0, "complete", BASE, val=0.5),
        record(1, "failed", BASE | {"width": 8}),  # a stale attempt, queued again as #4
        record(2, "running", BASE | {"lr": 0.01}),
        record(3, "failed", BASE | {"width": 32}),
        record(4, "waiting", BASE | {"width": 8}),
        record(5, "complete", BASE, role="final", val=0.6),
    ]
    progress = study_progress(study(records))
    assert progress == Progress(finished=1, failed=1, waiting=1, running=1, upcoming=0)
    assert (progress.total, progress.remaining, progress.done) == (4, 2, False)
    assert progress.describe() == "2 of 4 trainings remain (1 waiting, 1 running)"


def test_progress_of_a_finished_study_is_done() -> None:
    """Nothing waiting or running: the study is finished, failures included."""
    records = [record(0, "complete", BASE, val=0.5), record(1, "failed", BASE | {"width": 8})]
    progress = study_progress(study(records))
    assert progress.done and progress.total == 2 and progress.finished == 1


def test_progress_counts_the_other_seeds_of_unsampled_slots() -> None:
    """A random study's slot not drawn yet stands for `repeats` trainings, one queued."""
    records = [record(0, "complete", BASE, val=0.5), record(1, "complete", BASE, seed=1,
                                                               val=0.5),
               record(2, "waiting")]
    progress = study_progress(study(records, strategy="random", repeats=2))
    assert (progress.waiting, progress.upcoming, progress.total) == (1, 1, 4)
    assert "1 not queued yet" in progress.describe()


def test_progress_counts_a_coordinate_round_still_to_come() -> None:
    """A coordinate study whose round moved the baseline has the next round left; one that
    converged (its best neighbour is its baseline) is done."""
    moved = [record(0, "complete", BASE, val=0.5),
             record(1, "complete", BASE | {"width": 8}, val=0.9),
             record(2, "complete", BASE | {"lr": 0.01}, val=0.8)]
    progress = study_progress(study(moved, strategy="coordinate", bases=[BASE]))
    assert (progress.upcoming, progress.remaining, progress.done) == (1, 1, False)
    converged = [record(0, "complete", BASE, val=0.9),
                 record(1, "complete", BASE | {"width": 8}, val=0.5),
                 record(2, "complete", BASE | {"lr": 0.01}, val=0.4)]
    assert study_progress(study(converged, strategy="coordinate", bases=[BASE])).done


FINAL = {"rule": "best", "params": BASE | {"width": 8}, "made_at": "2030-01-02T03:04:05+00:00",
         "made_on": {"finished": 3, "total": 5, "remaining": 2}}


@pytest.mark.parametrize(("current", "differs", "says"), [
    (BASE | {"width": 8}, False, "rule 'best' now picks the same configuration"),
    (BASE | {"lr": 0.01}, True, "rule 'best' now picks another configuration"),
])
def test_since_choice_tells_whether_the_best_changed(current: dict[str, Any], differs: bool,
                                                     says: str) -> None:
    """Trainings finished after the choice are counted; the rule's pick now is compared."""
    progress = Progress(finished=5, failed=0, waiting=0, running=0, upcoming=0)
    since = since_choice(FINAL, progress, {"best": {"params": current, "val_metric": 0.9}})
    assert since is not None and since.added == 2 and since.differs is differs
    assert since.describe() == f"2 training(s) finished after the final choice; {says}"


def test_since_choice_none_when_nothing_was_added() -> None:
    """The same trainings as at the choice: nothing to say."""
    progress = Progress(finished=3, failed=0, waiting=2, running=0, upcoming=0)
    assert since_choice(FINAL, progress, {"best": {"params": BASE}}) is None


def test_describe_choice_names_rule_date_and_trainings() -> None:
    """A forced choice says on how many of the trainings it was made; a finished one says so."""
    assert describe_choice(FINAL) == "rule 'best', made 2030-01-02 03:04 UTC on 3 of 5 trainings"
    done = FINAL | {"rule": "fast", "tolerance": 0.05,
                    "made_on": {"finished": 5, "total": 5, "remaining": 0}}
    assert describe_choice(done) == ("rule 'fast' (tolerance 0.05), made 2030-01-02 03:04 UTC "
                                     "on the finished study (5 trainings)")
