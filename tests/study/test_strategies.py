"""Strategies expand a spec into trainings; no configuration is planned twice."""

from hpstudy.study.records import TrainingRecord
from hpstudy.study.spec import load_spec, parse_spec, validate_for_task
from hpstudy.study.strategies import (
    baseline,
    config_id,
    grid_size,
    next_coordinate_round,
    plan_fixed,
)
from hpstudy.tasks import get_task


def plan(spec):
    task = get_task(spec.task)
    spec = validate_for_task(spec, task)
    return spec, plan_fixed(spec, task.params_of(task.default_config()))


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
    assert grid_size(spec, task.params_of(task.default_config())) == 6


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
