"""Pruning: the [pruning] table, the rules told apart, seed-aware judging on stored values,
pruned members of stacked groups and side-by-side seeds, the pruned status, and a pruned
study end to end (the example file)."""

from __future__ import annotations

import contextlib
import json
import threading
import time
import tomllib
from collections import defaultdict
from dataclasses import replace
from pathlib import Path

import optuna
import pytest
import torch

from hpstudy import batched
from hpstudy.cli import main
from hpstudy.config import Config
from hpstudy.errors import ConfigError
from hpstudy.report.curves import all_curves_data
from hpstudy.study import bulk, queue, selection
from hpstudy.study.plans import Planned, config_id, with_seeds
from hpstudy.study.pruning import Entry, build_pruner, parse_pruning
from hpstudy.study.pruning.judge import Held, Judge, decide, seed_means
from hpstudy.study.pruning.rules import Hyperband, Median, SuccessiveHalving, rungs
from hpstudy.study.reader import read_study
from hpstudy.study.records import COMPLETE, DIVERGED, PRUNED, StudyData, TrainingRecord
from hpstudy.study.spec import StudySpec, parse_spec
from hpstudy.study.storage import Store
from hpstudy.tasks import get_task
from hpstudy.train import train, train_together

HOUSES = get_task("houses")
EXAMPLE = Path(__file__).parents[2] / "examples" / "houses-hyperband.toml"
SEARCH = ('name = "s"\ntask = "houses"\nstrategy = "random"\n[budget]\nn_trials = 2\n'
          '[space]\nlr = {low = 0.001, high = 0.1}\n')
ABLATION = 'name = "s"\ntask = "houses"\n[space]\nlr = [0.001, 0.01]\n'
COORDINATE = 'name = "s"\ntask = "houses"\nstrategy = "coordinate"\n[space]\nlr = [0.001, 0.01]\n'

BAD_PRUNING = [
    (SEARCH + '[pruning]\npruner = "asha"\n', "'pruning.pruner' must be one of none, median"),
    (SEARCH + '[pruning]\npruner = "median"\nmin_epochs = 0\n',
     "'pruning.min_epochs' must be an int >= 1. Got 0."),
    (SEARCH + '[pruning]\npruner = "hyperband"\nreduction_factor = 1\n',
     "'pruning.reduction_factor' must be an int >= 2. Got 1."),
    (SEARCH + '[pruning]\npruner = "hyperband"\nwarmup_trials = 1.5\n',
     "'pruning.warmup_trials' must be an int >= 0. Got 1.5."),
    (SEARCH + '[pruning]\npruner = "hyperband"\nsynchronous = 1\n',
     "'pruning.synchronous' must be true or false. Got 1."),
    (SEARCH + '[pruning]\npruner = "median"\nreduction_factor = 3\n',
     "unknown key 'pruning.reduction_factor' for pruner 'median'"),
    ('name = "s"\ntask = "houses"\npruning = 3\n', "[pruning] must be a table"),
    (ABLATION + '[pruning]\npruner = "median"\n', "strategy 'ablation' cannot prune"),
    (COORDINATE + '[pruning]\npruner = "hyperband"\n', "strategy 'coordinate' cannot prune"),
]


@pytest.mark.parametrize(("text", "message"), BAD_PRUNING)
def test_run_bad_pruning_one_line_exit_2(tmp_path, capsys, text, message):
    """A bad [pruning] table, or pruning in an ablation or coordinate study: exit 2, one line."""
    path = tmp_path / "study.toml"
    path.write_text(text)
    code = main(["run", str(path), "--out", str(tmp_path / "out"), "--quiet"])
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and message in err, err
    assert not (tmp_path / "out").exists()


def test_pruning_table_fills_defaults_and_is_stored_with_the_spec():
    """A [pruning] table takes its rule's defaults, and round-trips through the stored spec."""
    spec = parse_spec(tomllib.loads(SEARCH + '[pruning]\npruner = "hyperband"\nmin_epochs = 2\n'))
    assert spec.pruning == {"pruner": "hyperband", "min_epochs": 2, "reduction_factor": 3,
                            "warmup_trials": 0, "synchronous": False}
    assert spec.prunes and StudySpec.from_dict(spec.to_dict()) == spec
    assert not parse_spec(tomllib.loads(SEARCH)).prunes
    with pytest.raises(ConfigError, match="must be a table"):
        parse_pruning(3, "f")


def entries(values: dict[str, float]) -> list[Entry]:
    return [Entry(cid, value) for cid, value in values.items()]


def test_median_and_successive_halving_told_apart():
    """Of nine configurations, the third best is kept by both rules; the fourth best is above
    the others' median (median keeps it) but outside the best third (halving stops it); the
    sixth best is stopped by both."""
    field = {f"c{i}": float(i) for i in range(9)}  # maximize: c8 best
    median = Median(min_epochs=1, warmup_trials=1, interval=1)
    halving = SuccessiveHalving(min_epochs=1, reduction_factor=3, warmup_trials=1)
    for name, median_prunes, halving_prunes in (("c6", False, False), ("c5", False, True),
                                                ("c3", True, True)):
        me = Entry(name, field[name])
        others = [e for e in entries(field) if e.config_id != name]
        assert median.prunes(me, others, True, 10) is median_prunes, name
        assert halving.prunes(me, others, True, 10) is halving_prunes, name


@pytest.mark.parametrize("reached, kept", [(1, 1), (2, 1), (4, 2), (5, 2), (6, 2), (7, 3)])
def test_successive_halving_keeps_the_best_third_rounded_up(reached, kept):
    """Of n configurations at a rung, ceil(n / 3) go on: of five, the best two, where Li et
    al.'s and Optuna's floor(n / 3) would keep one."""
    field = {f"c{i}": float(i) for i in range(reached)}  # maximize: the last is best
    halving = SuccessiveHalving(min_epochs=1, reduction_factor=3, warmup_trials=0)
    going_on = [name for name in field
                if not halving.prunes(Entry(name, field[name]),
                                      [e for e in entries(field) if e.config_id != name],
                                      True, 10)]
    assert going_on == list(field)[reached - kept:]


def test_warmup_trials_keep_everything_until_enough_others():
    """With fewer other configurations at the epoch than warmup_trials, nothing is pruned."""
    worst = Entry("w", 0.0)
    others = entries({"a": 1.0, "b": 2.0})
    assert not Median(min_epochs=1, warmup_trials=3, interval=1).prunes(worst, others, True, 9)
    assert Median(min_epochs=1, warmup_trials=2, interval=1).prunes(worst, others, True, 9)


def test_rules_judge_at_their_epochs():
    """Median judges from min_epochs on; halving at its rungs; never at the last epoch."""
    median = Median(min_epochs=3, warmup_trials=0, interval=2)
    assert [e for e in range(1, 11) if median.judges_at("c", e, 10)] == [3, 5, 7, 9]
    halving = SuccessiveHalving(min_epochs=1, reduction_factor=3, warmup_trials=0)
    assert [e for e in range(1, 28) if halving.judges_at("c", e, 27)] == [1, 3, 9]


def test_hyperband_brackets_compare_within_a_bracket():
    """Hyperband's brackets start at min_epochs * factor**b; a configuration's bracket comes
    from its slot (or, stored without one, its id) alone, and only configurations of its
    bracket are its peers."""
    rule = Hyperband(min_epochs=1, reduction_factor=3, warmup_trials=0)
    assert [first for first, _ in rule.brackets(27)] == [1, 3, 9, 27]
    ids = [f"config-{i}" for i in range(200)]
    brackets = [rule.bracket_of(cid, 27, slot) for slot, cid in enumerate(ids)]
    assert brackets == [rule.bracket_of(cid, 27, slot) for slot, cid in enumerate(ids)]
    assert set(brackets) == {0, 1, 2, 3} and brackets.count(0) > brackets.count(3)
    me = Entry(ids[0], 0.0, 0)
    others = [Entry(cid, 1.0, slot) for slot, cid in enumerate(ids) if slot]
    peers = rule.peers(me, others, 27)
    assert peers and all(rule.bracket_of(e.config_id, 27, e.slot) == brackets[0]
                         for e in peers)
    first_rung = rule.brackets(27)[brackets[0]][0]
    assert rule.judges_at(me.config_id, first_rung, 27, me.slot)
    unslotted = [rule.bracket_of(cid, 27) for cid in ids]
    assert set(unslotted) == {0, 1, 2, 3} and unslotted != brackets


@pytest.mark.parametrize(("factor", "epochs"), [(3, 30), (4, 30), (2, 100)])
def test_hyperband_deals_any_run_of_slots_in_its_shares(factor, epochs):
    """Any run of consecutive slots (a study's 64, a worker's share of them) is dealt into
    the brackets in Li et al.'s shares, each within 2.5 configurations of its share; a hash of
    the ids (what configurations without a slot get) strays further."""
    rule = Hyperband(min_epochs=1, reduction_factor=factor, warmup_trials=0)
    weights = [weight for _, weight in rule.brackets(epochs)]
    total = sum(weights)

    def worst(dealt: list[int]) -> float:
        return max(abs(dealt.count(b) - len(dealt) * w / total) for b, w in enumerate(weights))

    for start in (0, 17, 32, 100):
        for count in (8, 32, 64, 128):
            slots = range(start, start + count)
            assert worst([rule.bracket_of("same id", epochs, s) for s in slots]) <= 2.5
    hashed = [rule.bracket_of(f"config-{s}", epochs) for s in range(64)]
    assert worst(hashed) > 2.5


@pytest.fixture
def store(tmp_path):
    opened = Store(f"sqlite:///{tmp_path / 'study.db'}")
    yield opened
    opened.close()


def running_study(store: Store, seeds: dict[str, list[float]]) -> tuple[optuna.Study, dict]:
    """A study with one RUNNING training per (configuration, seed), each with its value
    reported at epoch 3; returns the study and the trial ids by (config_id, seed)."""
    study = optuna.create_study(study_name="p", storage=store.storage, direction="maximize")
    study.set_user_attr("distributions", {})
    planned = [Planned({"name": name}, seed) for name, values in seeds.items()
               for seed in range(len(values))]
    queue.enqueue(store, study, planned)
    waiting = queue.waiting(study)
    queue.claim(store, study, [t.trial_id for t in waiting])
    ids = {}
    for trial in study.get_trials(deepcopy=False):
        ids[(trial.user_attrs["params"]["name"], trial.user_attrs["seed"])] = trial._trial_id
    bulk.report(study, 3, [(ids[(name, seed)], value) for name, values in seeds.items()
                           for seed, value in enumerate(values)])
    return study, ids


def test_seed_mean_prunes_what_a_single_seed_rule_keeps(store):
    """With repeats = 3, a configuration whose first seed is lucky is pruned on its seeds'
    mean (below the others' median), though its first seed alone is above it; and one whose
    first seed is unlucky is kept on its mean, though the single-seed rule stops it."""
    seeds = {"lucky": [0.9, 0.3, 0.3], "unlucky": [0.4, 0.9, 0.9],
             "b": [0.5, 0.5, 0.5], "c": [0.6, 0.6, 0.6], "d": [0.7, 0.7, 0.7]}
    study, _ = running_study(store, seeds)
    stored = bulk.values_at(study, 3)
    by_name = {config_id({"name": n}): n for n in seeds}
    rule = Median(min_epochs=1, warmup_trials=1, interval=1)
    judged = {config_id({"name": n}) for n in ("lucky", "unlucky")}
    epochs = dict.fromkeys(by_name, 10)
    on_means = decide(rule, seed_means(stored, 3), judged, epochs, True)
    first_seeds = [v for v in stored if v[1] == 0]
    on_first_seed = decide(rule, seed_means(first_seeds, 1), judged, epochs, True)
    assert {by_name[c] for c in on_means} == {"lucky"}
    assert {by_name[c] for c in on_first_seed} == {"unlucky"}


def test_configuration_missing_a_seed_is_not_judged(store):
    """A configuration with only two of its three seeds at the epoch is neither judged nor
    counted among the others."""
    study, _ = running_study(store, {"a": [0.1, 0.1], "b": [0.5, 0.5, 0.5]})
    means = seed_means(bulk.values_at(study, 3), 3)
    assert list(means) == [config_id({"name": "b"})]


def test_judge_reports_then_stops_every_seed_together(store):
    """The judge stores its trainings' values and stops all seeds of a losing configuration;
    a failed attempt's values are not read."""
    study, ids = running_study(store, {"b": [0.5, 0.5], "c": [0.6, 0.6], "d": [0.7, 0.7]})
    loser = {"name": "loser"}
    queue.enqueue(store, study, [Planned(loser, 0), Planned(loser, 1)])
    new = [t.trial_id for t in queue.waiting(study)]
    queue.claim(store, study, new)
    cfgs = [HOUSES.default_config().replace(seed=s, epochs=10) for s in (0, 1)]
    cid = config_id(loser)
    held = {cfg.replace(epochs=0): [Held(tid, cid, 10)] for cfg, tid in zip(cfgs, new,
                                                                             strict=True)}
    judge = Judge(store, study, Median(min_epochs=1, warmup_trials=2, interval=1), 2, True,
                  held)
    assert judge(3, [(cfgs[0], 0.1), (cfgs[1], 0.2)]) == set(cfgs)
    assert {v[0] for v in bulk.values_at(study, 3)} >= {cid}
    study._storage.set_trial_state_values(ids[("d", 0)], optuna.trial.TrialState.FAIL)
    assert len(seed_means(bulk.values_at(study, 3), 2)) == 3  # d lost a seed


def judge_of_a_rung_half_reached(store, synchronous: bool):
    """A study where another worker runs a, b and c (no value at epoch 1 yet) and a judge
    holds `mine`, at successive halving's first rung (1 of 2 go on), `synchronous` or not."""
    study = optuna.create_study(study_name="p", storage=store.storage, direction="maximize")
    study.set_user_attr("distributions", {})
    names = ("a", "b", "c", "mine")
    queue.enqueue(store, study, [Planned({"name": name}, 0) for name in names])
    queue.claim(store, study, [t.trial_id for t in queue.waiting(study)])
    ids = {t.user_attrs["params"]["name"]: t._trial_id for t in study.get_trials(deepcopy=False)}
    cfg = HOUSES.default_config().replace(epochs=10)
    held = {cfg.replace(epochs=0): [Held(ids["mine"], config_id({"name": "mine"}), 10)]}
    rule = SuccessiveHalving(min_epochs=1, reduction_factor=2, synchronous=synchronous)
    return study, ids, cfg, Judge(store, study, rule, 1, True, held, synchronous=True)


def test_a_synchronous_judge_waits_until_its_rung_is_whole(store, tmp_path):
    """Alone at the rung, `mine` (0.5) is the best of one: the default (asynchronous) rule
    keeps it. With `synchronous = true` the judge waits for the other worker's three
    trainings; once they report 0.9, 0.8 and 0.1 it stops `mine` (third of four, two go
    on)."""
    study, ids, cfg, judge = judge_of_a_rung_half_reached(store, synchronous=False)
    assert judge(1, [(cfg, 0.5)]) == set()

    other = Store(f"sqlite:///{tmp_path / 'synchronous.db'}")
    study, ids, cfg, judge = judge_of_a_rung_half_reached(other, synchronous=True)
    decided: list[set[Config]] = []
    waiting = threading.Thread(target=lambda: decided.append(judge(1, [(cfg, 0.5)])))
    waiting.start()
    time.sleep(0.6)
    assert waiting.is_alive() and not decided
    bulk.report(study, 1, [(ids["a"], 0.9), (ids["b"], 0.8)])
    time.sleep(0.3)
    assert waiting.is_alive()  # c is still on its way
    bulk.report(study, 1, [(ids["c"], 0.1)])
    waiting.join(timeout=10)
    other.close()
    assert decided == [{cfg}]


def stacked_cfgs() -> list[Config]:
    base = HOUSES.default_config().replace(epochs=6, width=8, layers=2)
    return [base.replace(lr=lr) for lr in (0.001, 0.003, 0.01)]


def test_pruned_member_of_a_stack_leaves_the_others_bit_identical():
    """Pruning one member of a stacked group at epoch 2 changes none of the other members'
    numbers; the pruned one keeps the first two epochs of its curve."""
    torch.set_num_threads(1)
    cfgs = stacked_cfgs()
    assert batched.group_key(HOUSES, cfgs[0]) is not None
    splits = HOUSES.load_splits(cfgs[0], None)
    full = batched.train_group(HOUSES, cfgs, splits)
    calls = []

    def judge(epoch, values):
        calls.append((epoch, len(values)))
        return {cfgs[1]} if epoch == 2 else set()

    pruned = batched.train_group(HOUSES, cfgs, splits, judge=judge)
    assert pruned[1].status == PRUNED and pruned[1].epochs_run == 2
    assert pruned[1].curves["val_metric"] == full[1].curves["val_metric"][:2]
    for i in (0, 2):
        assert pruned[i].curves == full[i].curves and pruned[i].val_metric == full[i].val_metric
    assert calls[:3] == [(1, 3), (2, 3), (3, 2)]


def test_seeds_side_by_side_equal_solo_trainings():
    """Seeds trained side by side (dropout draws from torch's global generator) give the
    solo trainings' results; a pruned seed stops at its epoch, the other is unchanged."""
    torch.set_num_threads(1)
    base = HOUSES.default_config().replace(epochs=4, width=8, layers=2, dropout=0.2,
                                            schedule="cosine")
    assert batched.group_key(HOUSES, base) is None  # a schedule trains solo
    cfgs = [base.replace(seed=s) for s in (0, 1)]
    splits = HOUSES.load_splits(base, None)
    solo = [train(HOUSES, cfg, splits) for cfg in cfgs]
    together = train_together(HOUSES, cfgs, splits, lambda e, v: set())
    assert [r.curves for r in together] == [r.curves for r in solo]
    told: list[list] = []
    one_pruned = train_together(HOUSES, cfgs, splits,
                                lambda e, v: {cfgs[0]} if e == 1 else set(),
                                finished=lambda items: told.append(list(items)))
    assert one_pruned[0].status == PRUNED and one_pruned[0].epochs_run == 1
    assert one_pruned[1].curves == solo[1].curves
    assert told == [[(cfgs[0], one_pruned[0])], [(cfgs[1], one_pruned[1])]]


def record(number: int, status: str, val: float) -> TrainingRecord:
    return TrainingRecord(number=number, status=status, params={"lr": 0.1 * (number + 1)},
                          seed=0, config_id=f"c{number}", val_metric=val, train_time_s=1.0,
                          epochs_run=3 if status == PRUNED else 10)


def test_best_so_far_is_never_pruned_or_diverged():
    """Early in a pruned search the only values may be pruned or diverged ones: `hpstudy
    status` names no best until a training has run to its end."""
    from hpstudy.study.listing import best

    early = [record(0, PRUNED, 0.99), replace(record(1, DIVERGED, 0.9), epochs_run=2)]
    assert best(early, "maximize") is None
    later = [*early, record(2, COMPLETE, 0.5)]
    assert best(later, "maximize") == later[2]


def test_final_choice_never_picks_a_pruned_configuration():
    """A pruned configuration with the best value so far is no final-choice candidate."""
    study = StudyData(name="s", spec=StudySpec(name="s", task="houses"), task="houses",
                      direction="maximize", metric_name="acc", defaults={"lr": 0.1},
                      records=[record(0, PRUNED, 0.99), record(1, COMPLETE, 0.5)])
    picks = selection.final_candidates(study)
    assert picks["best"]["params"]["lr"] == pytest.approx(0.2)
    assert study.records[0].stopped_at == 3 and study.records[1].stopped_at is None
    assert all_curves_data(study).pruned == []  # no curves stored in these records


@pytest.fixture(scope="module")
def example_study(tmp_path_factory):
    """The example study file, run once (about 10 s)."""
    out = tmp_path_factory.mktemp("example") / "hb"
    assert main(["run", str(EXAMPLE), "--out", str(out), "--jobs", "2", "--quiet"]) == 0
    return out


def test_example_prunes_and_seeds_stop_together(example_study, capsys):
    """The example prunes some configurations; the seeds of each configuration end with one
    status at one epoch; `status` counts the pruned trainings."""
    assert main(["trials", str(example_study), "--format", "json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    by_config = defaultdict(list)
    for row in rows:
        by_config[json.dumps(row["params"], sort_keys=True)].append(row)
    assert len(by_config) == 24 and all(len(seeds) == 2 for seeds in by_config.values())
    for seeds in by_config.values():
        assert len({(r["status"], r["epochs_run"]) for r in seeds}) == 1, seeds
    statuses = [r["status"] for r in rows]
    assert 0 < statuses.count(PRUNED) < len(rows)
    pruned_epochs = {r["epochs_run"] for r in rows if r["status"] == PRUNED}
    assert pruned_epochs <= {1, 3, 9}
    assert main(["status", str(example_study)]) == 0
    assert f"{statuses.count(PRUNED)} pruned" in capsys.readouterr().out


def test_every_seed_of_a_sampled_configuration_holds_its_slot(example_study):
    """Both seeds of each sampled configuration carry the slot it was drawn in, the 24
    configurations hold the slots 0 to 23, one each, and each pruned one stopped at a rung of
    the bracket its slot deals it."""
    store = Store(f"sqlite:///{example_study / 'study.db'}")
    trials = store.load("houses-hyperband").get_trials()
    store.close()
    slots = defaultdict(set)
    for trial in trials:
        slots[trial.user_attrs["config_id"]].add(trial.user_attrs["slot"])
    assert all(len(held) == 1 for held in slots.values())
    assert sorted(next(iter(held)) for held in slots.values()) == list(range(24))
    rule = Hyperband(min_epochs=1, reduction_factor=3, warmup_trials=0)
    pruned = [t for t in trials if t.state == optuna.trial.TrialState.PRUNED]
    assert pruned
    for trial in pruned:
        cid, slot = trial.user_attrs["config_id"], trial.user_attrs["slot"]
        stopped = trial.user_attrs["result"]["epochs_run"]
        assert stopped in rungs(rule.min_epochs_of(cid, 27, slot), 3, 27), (slot, stopped)


def test_a_planned_configuration_slot_is_its_place_in_the_plan():
    """A grid's configurations are numbered in plan order, the same number on every seed;
    a coordinate round's are not numbered (a round is not the whole plan)."""
    configs = [{"lr": lr} for lr in (0.1, 0.2, 0.3)]
    planned = with_seeds(configs, 2)
    assert [(p.params["lr"], p.seed, p.slot) for p in planned] == [
        (0.1, 0, 0), (0.1, 1, 0), (0.2, 0, 1), (0.2, 1, 1), (0.3, 0, 2), (0.3, 1, 2)]
    assert {p.slot for p in with_seeds(configs, 2, numbered=False)} == {None}


def test_every_epoch_is_an_intermediate_value(example_study):
    """Each trained trial's Optuna intermediate values are its validation curve, and a pruned
    trial is PRUNED in Optuna's terms."""
    store = Store(f"sqlite:///{example_study / 'study.db'}")
    data = read_study(store, "houses-hyperband")
    trials = {t.number: t for t in store.load("houses-hyperband").get_trials()}
    store.close()
    for rec in data.records:
        curve = rec.curves["val_metric"]
        assert trials[rec.number].intermediate_values == dict(enumerate(curve, start=1))
        assert (trials[rec.number].state == optuna.trial.TrialState.PRUNED) == (
            rec.status == PRUNED)


def test_report_of_a_pruned_study(example_study, capsys):
    """The report has a 'stopped at epoch' column and the faded-curves figure, and its final
    choice is a configuration trained in full."""
    assert main(["report", str(example_study)]) == 0
    capsys.readouterr()
    text = (example_study / "report.md").read_text()
    assert "stopped at epoch" in text
    assert (example_study / "figures" / "houses-hyperband-all-curves.png").stat().st_size > 0
    final = json.loads((example_study / "final.json").read_text())
    store = Store(f"sqlite:///{example_study / 'study.db'}")
    data = read_study(store, "houses-hyperband")
    store.close()
    chosen = [r for r in data.records if r.params == final["params"]]
    assert chosen and {r.status for r in chosen} == {COMPLETE}


def test_intermediate_values_without_pruning(tmp_path):
    """A study without pruning stores every epoch's value as an intermediate value too."""
    path = tmp_path / "g.toml"
    path.write_text('name = "g"\ntask = "houses"\nstrategy = "grid"\n[defaults]\nepochs = 3\n'
                    "[space]\nwidth = [4, 8]\n")
    out = tmp_path / "g"
    assert main(["run", str(path), "--out", str(out), "--jobs", "1", "--quiet"]) == 0
    store = Store(f"sqlite:///{out / 'study.db'}")
    trials = store.load("g").get_trials()
    store.close()
    assert len(trials) == 3  # the default width 16, then 4 and 8
    for trial in trials:
        curve = trial.user_attrs["result"]["curves"]["val_metric"]
        assert trial.intermediate_values == {1: curve[0], 2: curve[1], 3: curve[2]}


def test_build_pruner_of_none_never_prunes():
    """pruner = "none" judges no epoch."""
    rule = build_pruner({"pruner": "none"})
    assert not rule.active and not rule.judges_at("c", 1, 10)


def test_dashboard_serves_every_trials_intermediate_values(example_study):
    """optuna-dashboard's API (/api/studies/1) lists each trial's intermediate values: its
    validation curve, pruned trials included."""
    optuna_dashboard = pytest.importorskip("optuna_dashboard")
    from wsgiref.util import setup_testing_defaults

    store = Store(f"sqlite:///{example_study / 'study.db'}")
    app = optuna_dashboard.wsgi(store.storage)
    environ: dict = {"PATH_INFO": "/api/studies/1", "REQUEST_METHOD": "GET"}
    setup_testing_defaults(environ)
    answer: list[str] = []
    body = b"".join(app(environ, lambda status, *_: answer.append(status)))
    data = read_study(store, "houses-hyperband")
    store.close()
    assert answer == ["200 OK"]
    trials = {t["number"]: t for t in json.loads(body)["trials"]}
    assert {t["state"] for t in trials.values()} == {"Complete", "Pruned"}
    for rec in data.records:
        served = trials[rec.number]["intermediate_values"]
        assert [v["value"] for v in sorted(served, key=lambda v: v["step"])] == pytest.approx(
            rec.curves["val_metric"])


def test_a_sampled_configuration_takes_its_seeds_before_a_rival_can(tmp_path, monkeypatch):
    """With pruning, the worker that draws a configuration adds its other seeds already
    claimed (running, in the same transaction): a rival worker that looks for work right after
    they are added cannot start one of them alone."""
    from hpstudy.study.runner import create_or_resume, prepare
    from hpstudy.study.worker import Worker, WorkerOptions

    spec = parse_spec({"name": "p", "task": "houses", "strategy": "random", "repeats": 3,
                       "seed": 0, "defaults": {"epochs": 3, "layers": 1},
                       "space": {"width": {"low": 4, "high": 64}},
                       "budget": {"n_trials": 2}, "pruning": {"pruner": "hyperband"}})
    url = f"sqlite:///{tmp_path / 'study.db'}"
    store = Store(url)
    create_or_resume(store, prepare(spec, get_task("houses"), False))
    worker, rival = (Worker(WorkerOptions(url=url, study_name="p")) for _ in range(2))
    # the rival is another process in real life: it does not share this process's file lock
    monkeypatch.setattr(rival.store, "locked", contextlib.nullcontext)
    rival_took: list = []
    add = bulk.add_waiting

    def add_then_rival(*args, **kwargs):
        added = add(*args, **kwargs)
        if not rival_took:
            rival_took.append(rival.take())
        return added

    monkeypatch.setattr(bulk, "add_waiting", add_then_rival)
    taken = worker.take()
    assert [item.cfg.seed for item in taken] == [0, 1, 2]
    assert len({item.config_id for item in taken}) == 1
    assert all(item.config_id != taken[0].config_id for item in rival_took[0])
    for opened in (worker.store, rival.store, store):
        opened.close()


def sampled_study(tmp_path, strategy: str, pruner: str, n_trials: int = 6) -> str:
    from hpstudy.study.runner import create_or_resume, prepare

    spec = parse_spec({"name": "p", "task": "houses", "strategy": strategy, "seed": 0,
                       "defaults": {"epochs": 3},
                       "space": {"width": {"low": 4, "high": 64, "log": True},
                                 "batch_size": {"low": 16, "high": 128, "log": True}},
                       "budget": {"n_trials": n_trials}, "pruning": {"pruner": pruner}})
    url = f"sqlite:///{tmp_path / f'{strategy}-{pruner}.db'}"
    store = Store(url)
    create_or_resume(store, prepare(spec, get_task("houses"), False))
    store.close()
    return url


@pytest.mark.parametrize(("strategy", "pruner", "workers", "sizes"), [
    ("random", "hyperband", 3, [2, 2, 2]),  # the run's workers split the slots evenly
    ("random", "hyperband", None, [3, 2, 1]),  # alone: half of what is open
    ("random", "median", 2, [3, 3]),
    ("random", "none", 2, [1] * 6),  # no pruning: nothing to judge side by side
    ("tpe", "hyperband", 2, [1] * 6),  # a sampler that learns fills one slot at a time
])
def test_open_slots_filled_together_only_when_pruning_random_draws(
        tmp_path, strategy, pruner, workers, sizes):
    """With pruning and random draws (no finished training needed), one take fills this
    worker's share of the open slots, so that its configurations reach each rung together;
    each slot keeps its own sampler, so the configurations drawn are the same as one by one."""
    from hpstudy.study.worker import Worker, WorkerOptions

    url = sampled_study(tmp_path, strategy, pruner)
    worker = Worker(WorkerOptions(url=url, study_name="p", workers=workers))
    taken = []
    while group := worker.take():
        taken.append(group)
    assert [len(group) for group in taken] == sizes
    worker.store.close()
    if pruner != "none" and strategy == "random":
        one_by_one = sampled_study(tmp_path, strategy, "none")
        alone = Worker(WorkerOptions(url=one_by_one, study_name="p"))
        singles = []
        while group := alone.take():
            singles += group
        alone.store.close()
        assert sorted(item.config_id for group in taken for item in group) == sorted(
            item.config_id for item in singles)
        assert len({item.config_id for item in singles}) == 6


def test_a_pruned_training_is_recorded_when_it_stops(tmp_path, monkeypatch):
    """A worker records each training of a group side by side at the end of the epoch it ends
    in: the pruned ones in transactions of their own, before the survivors finish, and every
    training once."""
    from hpstudy.study.worker import Worker, WorkerOptions

    url = sampled_study(tmp_path, "random", "hyperband")
    calls: list[list[tuple[int, str]]] = []
    record = queue.record

    def recording(store, study, results):
        calls.append([(trial_id, result["status"]) for trial_id, result in results])
        return record(store, study, results)

    monkeypatch.setattr(queue, "record", recording)
    worker = Worker(WorkerOptions(url=url, study_name="p", workers=1))
    assert worker.run() == 6
    assert len(calls) > 1
    assert all(status == PRUNED for call in calls[:-1] for _, status in call)
    ids = [trial_id for call in calls for trial_id, _ in call]
    assert len(ids) == len(set(ids)) == 6
