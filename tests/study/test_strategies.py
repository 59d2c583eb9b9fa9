"""Strategies expand a spec into trainings; no configuration is planned twice; samplers are
what they say and repeat with their seed."""

import re
from pathlib import Path

import optuna
import pytest
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

import hpstudy
from hpstudy.study.plans import baseline, config_id, next_coordinate_round, sampled_distributions
from hpstudy.study.records import TrainingRecord
from hpstudy.study.spec import load_spec, parse_spec, validate_for_task
from hpstudy.study.strategies import STRATEGIES, get_strategy
from hpstudy.study.strategies.samplers import slot_seed
from hpstudy.tasks import get_task


def plan(spec):
    task = get_task(spec.task)
    spec = validate_for_task(spec, task)
    return spec, get_strategy(spec.strategy).plan(spec, task.params_of(task.default_config()))


def test_ablation_usps_seed_is_21_trainings():
    """Appendix A: 28 table rows from 21 trainings, each configuration once."""
    _, planned = plan(load_spec("usps-seed"))
    assert len(planned) == 21 and len({p.key for p in planned}) == 21


def test_ablation_houses_seed_is_23_trainings_and_repeats_multiply():
    """Appendix B: 23 trainings; 5 repeats give 5 seeds of each."""
    spec = load_spec("houses-seed")
    assert len(plan(spec)[1]) == 23
    _, planned = plan(spec.with_overrides(5, None))
    assert len(planned) == 115 and {p.seed for p in planned} == {0, 1, 2, 3, 4}


def test_epoch_scale_scales_and_dedupes():
    """Epoch scale applies to defaults and space values; collisions merge."""
    spec, planned = plan(load_spec("houses-seed").with_overrides(None, 0.2))
    epochs = sorted({p.params["epochs"] for p in planned})
    assert epochs == [10, 20, 40, 100, 200]
    _, tiny = plan(load_spec("houses-seed").with_overrides(None, 0.001))
    assert sorted({p.params["epochs"] for p in tiny}) == [1] and len(tiny) == 19


def test_grid_is_the_full_product():
    """A grid has one training per combination."""
    raw = parse_spec({"name": "g", "task": "houses", "strategy": "grid",
                      "space": {"lr": [0.001, 0.01], "layers": [1, 2, 3]}})
    spec, planned = plan(raw)
    assert len(planned) == 6
    task = get_task("houses")
    assert get_strategy("grid").size(spec, task.params_of(task.default_config())) == 6


def test_random_and_tpe_plan_no_fixed_trainings():
    """Sampler strategies plan nothing up front (their slots are filled when taken)."""
    raw = parse_spec({"name": "r", "task": "houses", "strategy": "tpe",
                      "space": {"lr": [0.001, 0.01]}, "budget": {"n_trials": 3}})
    assert plan(raw)[1] == []


def record(params, value, seed=0):
    return TrainingRecord(number=0, status="complete", params=params, seed=seed,
                          config_id=config_id(params), val_metric=value)


def test_coordinate_moves_baseline_to_best_of_each_factor():
    """A coordinate round moves every factor to its best value and plans only new configs."""
    raw = parse_spec({"name": "c", "task": "houses", "strategy": "coordinate",
                      "space": {"lr": [0.001, 0.01], "layers": [1, 3]}})
    task = get_task("houses")
    spec = validate_for_task(raw, task)
    base = baseline(spec, task.params_of(task.default_config()))
    scores = {(0.001, 3): 0.30, (0.01, 3): 0.20, (0.001, 1): 0.25}
    records = [record(base | {"lr": lr, "layers": layers}, v) for (lr, layers), v in scores.items()]
    step = next_coordinate_round(spec, [base], records, maximize=False)
    assert step is not None
    new_base, planned = step
    assert new_base["lr"] == 0.01 and new_base["layers"] == 1
    assert {config_id(p.params) for p in planned} == {config_id(new_base)}
    worse = [*records, record(new_base, 0.5)]
    assert next_coordinate_round(spec, [base, new_base], worse, maximize=False) is None


def test_coordinate_stops_when_nothing_moves():
    """A round whose best values are the baseline's ends the study."""
    raw = parse_spec({"name": "c", "task": "houses", "strategy": "coordinate",
                      "space": {"lr": [0.001, 0.01]}})
    task = get_task("houses")
    spec = validate_for_task(raw, task)
    base = baseline(spec, task.params_of(task.default_config()))
    records = [record(base, 0.1), record(base | {"lr": 0.01}, 0.2)]
    assert next_coordinate_round(spec, [base], records, maximize=False) is None


def test_registry_names_every_strategy_once():
    """Every strategy a study file can name is one object in the registry."""
    assert set(STRATEGIES) == {"ablation", "grid", "random", "tpe", "qmc", "gp", "coordinate"}
    assert all(get_strategy(name).name == name for name in STRATEGIES)


def test_random_and_tpe_are_different_samplers():
    """random is a seeded RandomSampler; tpe a multivariate TPE with a constant liar."""
    random_sampler = get_strategy("random").sampler(0, 3)
    tpe_sampler = get_strategy("tpe").sampler(0, 3)
    assert type(random_sampler) is optuna.samplers.RandomSampler
    assert type(tpe_sampler) is optuna.samplers.TPESampler
    assert tpe_sampler._multivariate and tpe_sampler._constant_liar
    assert type(get_strategy("qmc").sampler(0, 3)) is optuna.samplers.QMCSampler
    assert type(get_strategy("gp").sampler(0, 3)) is optuna.samplers.GPSampler
    assert get_strategy("ablation").sampler(0, 3) is None
    labels = {get_strategy(name).sampler_label(parse_spec(
        {"name": "s", "task": "houses", "strategy": name, "space": {"lr": [0.1]},
         "budget": {"n_trials": 1}})) for name in ("random", "tpe", "qmc", "gp")}
    assert len(labels) == 4


def draws(strategy: str, seed: int, count: int = 12) -> list[tuple[float, int]]:
    """`count` slots filled by the strategy's samplers, each told a value before the next."""
    study = optuna.create_study()
    space = {"lr": FloatDistribution(1e-4, 0.1, log=True), "width": IntDistribution(8, 256)}
    out = []
    for number in range(count):
        study.sampler = get_strategy(strategy).sampler(seed, number)
        trial = study.ask(space)
        out.append((trial.params["lr"], trial.params["width"]))
        study.tell(trial, (trial.params["lr"] - 0.01) ** 2)
    return out


def test_sampler_draws_repeat_with_the_seed_and_differ_by_strategy():
    """Same strategy and seed: the same draws; another seed or strategy: others."""
    assert draws("random", 0) == draws("random", 0)
    assert draws("tpe", 0) == draws("tpe", 0)
    assert draws("random", 0) != draws("random", 1)
    random_draws, tpe_draws = draws("random", 0), draws("tpe", 0)
    assert all(a != b for a, b in zip(random_draws, tpe_draws, strict=True))
    assert len({lr for lr, _ in draws("random", 0)}) == 12  # continuous, not a grid


def test_slot_seed_depends_on_seed_and_slot():
    """Each slot's sampler seed is fixed by the study's seed, the slot and the strategy."""
    assert slot_seed(0, 1, "random") == slot_seed(0, 1, "random")
    assert len({slot_seed(0, 1, "random"), slot_seed(0, 2, "random"), slot_seed(1, 1, "random"),
                slot_seed(0, 1, "tpe")}) == 4


def test_sampled_distributions_keep_ranges_and_list_exactly():
    """Samplers draw a range from its distribution (epochs scaled) and a list from its values."""
    raw = parse_spec({"name": "r", "task": "houses", "strategy": "random",
                      "space": {"lr": {"low": 1e-4, "high": 0.1, "log": True},
                                "epochs": {"low": 10, "high": 100},
                                "activation": ["tanh"]},
                      "budget": {"n_trials": 3}}).with_overrides(None, 0.1)
    spec = validate_for_task(raw, get_task("houses"))
    dists = sampled_distributions(spec)
    assert dists["lr"] == FloatDistribution(1e-4, 0.1, log=True)
    assert dists["epochs"] == IntDistribution(1, 10)
    assert dists["activation"] == CategoricalDistribution(["tanh"])


def test_ablation_over_a_range_with_n_plans_its_points():
    """An ablation range with n is n values, planned one at a time around the default."""
    raw = parse_spec({"name": "a", "task": "houses",
                      "space": {"lr": {"low": 1e-4, "high": 1e-2, "log": True, "n": 3}}})
    _, planned = plan(raw)
    assert sorted(p.params["lr"] for p in planned) == pytest.approx([1e-4, 1e-3, 1e-2])


def test_no_code_outside_the_strategies_compares_strategy_names():
    """`strategy == ...`, `!=` and `in` appear only in the strategy modules."""
    src = Path(hpstudy.__file__).parent
    pattern = re.compile(r"strategy ?(==|!=|in) ")
    found = [f"{path}:{n}" for path in src.rglob("*.py") if "strategies" not in path.parts
             for n, line in enumerate(path.read_text().splitlines(), 1) if pattern.search(line)]
    assert found == []
