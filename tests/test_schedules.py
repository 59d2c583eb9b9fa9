"""Learning-rate schedules: the shape of each, and who may share a run when one is set."""

from __future__ import annotations

import pytest

from hpstudy import batched, schedules
from hpstudy.study.worker import share_key
from hpstudy.tasks import get_task
from hpstudy.train import train_at_epochs

HOUSES = get_task("houses")
STEPS = 10  # steps per epoch in these checks


def rates(**values: object) -> list[float]:
    found = schedules.rates(HOUSES.make_config({"epochs": 10, "lr": 0.1} | values), STEPS)
    assert found is not None and len(found) == 100
    return found


def test_constant_rate_needs_no_table() -> None:
    """No schedule and no warm-up: the trainers use the base rate (no per-step table)."""
    assert schedules.rates(HOUSES.make_config({"epochs": 10}), STEPS) is None


def test_cosine_falls_from_lr_towards_zero() -> None:
    found = rates(schedule="cosine")
    assert found[0] == pytest.approx(0.1)
    assert all(a >= b for a, b in zip(found, found[1:], strict=False))
    assert found[50] == pytest.approx(0.05, rel=1e-6) and found[-1] < 1e-3


def test_step_divides_by_ten_at_half_and_three_quarters() -> None:
    found = rates(schedule="step")
    assert found[:50] == pytest.approx([0.1] * 50)
    assert found[50:75] == pytest.approx([0.01] * 25)
    assert found[75:] == pytest.approx([0.001] * 25)


def test_onecycle_rises_to_lr_then_falls() -> None:
    found = rates(schedule="onecycle")
    peak = max(range(100), key=found.__getitem__)
    assert found[0] == pytest.approx(0.1 / 25)
    assert found[peak] == pytest.approx(0.1) and 25 <= peak <= 31
    assert found[-1] < 1e-5
    shorter = rates(schedule="onecycle", warmup_epochs=1)  # the rise takes one epoch
    assert max(range(100), key=shorter.__getitem__) in (9, 10)


def test_warmup_ramps_linearly_then_hands_over() -> None:
    """Two epochs of warm-up: lr/20, 2 lr/20, ... lr over 20 steps; then the schedule."""
    flat = rates(warmup_epochs=2)
    assert flat[:20] == pytest.approx([0.1 * (k + 1) / 20 for k in range(20)])
    assert flat[20:] == pytest.approx([0.1] * 80)
    cosine = rates(warmup_epochs=2, schedule="cosine")
    assert cosine[20] == pytest.approx(0.1) and cosine[-1] < 1e-3


def test_a_schedule_over_the_length_cannot_be_measured_early() -> None:
    """A cosine training of 4 epochs measured at epoch 2 is not the training of 2 epochs, so
    the epoch-sharing path refuses it and workers keep such lengths apart."""
    cfg = HOUSES.make_config({"epochs": 4, "schedule": "cosine", "width": 4})
    splits = HOUSES.load_splits(cfg, None)
    with pytest.raises(ValueError, match="cannot be measured"):
        train_at_epochs(HOUSES, cfg, splits, [2, 4])
    assert share_key(HOUSES, cfg) != share_key(HOUSES, cfg.replace(epochs=2))
    warm = HOUSES.make_config({"epochs": 4, "warmup_epochs": 1, "width": 4})
    assert share_key(HOUSES, warm) == share_key(HOUSES, warm.replace(epochs=2))


@pytest.mark.parametrize("change", [{"schedule": "cosine"}, {"warmup_epochs": 1},
                                    {"grad_clip": 1.0}, {"optimizer": "sgd", "momentum": 0.5},
                                    {"optimizer": "rmsprop", "momentum": 0.9}])
def test_what_the_stack_cannot_do_trains_solo(change: dict[str, object]) -> None:
    """Schedules, warm-up, clipping and non-default momentum leave the vectorized trainer."""
    assert batched.group_key(HOUSES, HOUSES.make_config(change)) is None


def test_default_momentum_given_explicitly_still_stacks() -> None:
    base = HOUSES.make_config({"optimizer": "sgd"})
    explicit = HOUSES.make_config({"optimizer": "sgd", "momentum": 0.9})
    assert batched.group_key(HOUSES, explicit) == batched.group_key(HOUSES, base) is not None
