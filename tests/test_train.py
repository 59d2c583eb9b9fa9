"""The trainer and the two built-in tasks, on the real data with few epochs."""

import math

import pytest
import torch

from hpstudy.tasks import get_task
from hpstudy.train import train, train_at_epochs


@pytest.fixture(scope="module")
def houses():
    task = get_task("houses")
    return task, task.load_splits(task.make_config(), None)


@pytest.fixture(scope="module")
def usps():
    task = get_task("usps")
    return task, task.load_splits(task.make_config(), None)


def test_usps_splits_sizes_and_range(usps):
    """USPS splits: 6000/1291/2007 images of 1x16x16 in [0, 1]."""
    _, splits = usps
    assert splits.x_train.shape == (6000, 1, 16, 16)
    assert len(splits.x_val) == 1291 and len(splits.x_test) == 2007
    assert 0.0 <= float(splits.x_train.min()) and float(splits.x_train.max()) <= 1.0


def test_houses_splits_by_row_order_standardized(houses):
    """Houses: 1000/200/260 rows; training features and target standardized."""
    _, splits = houses
    assert (len(splits.x_train), len(splits.x_val), len(splits.x_test)) == (1000, 200, 260)
    assert torch.allclose(splits.x_train.mean(0), torch.zeros(4), atol=1e-5)
    assert abs(float(splits.y_train.std(unbiased=False)) - 1.0) < 1e-4


@pytest.mark.parametrize("overrides", [{}, {"loss": "cross_entropy", "layers": 5}])
def test_usps_one_epoch_smoke_learns(usps, overrides):
    """One USPS epoch trains well above chance and reports every number."""
    task, splits = usps
    result = train(task, task.make_config({"epochs": 1} | overrides), splits)
    assert result.status == "ok" and result.epochs_run == 1
    assert result.val_metric > 30.0 and result.train_time_s > 0
    assert len(result.curves["val_metric"]) == 1


@pytest.mark.parametrize("loss", ["mse", "gaussian_nll"])
def test_houses_one_epoch_smoke(houses, loss):
    """One houses epoch gives finite metrics and an RMSE in dollars."""
    task, splits = houses
    result = train(task, task.make_config({"epochs": 1, "loss": loss}), splits)
    assert math.isfinite(result.val_metric) and result.extra["val_rmse_dollars"] > 1000


def test_train_same_seed_same_result(houses):
    """A given seed gives the same result; another seed a different one."""
    task, splits = houses
    first = train(task, task.make_config({"epochs": 3}), splits)
    again = train(task, task.make_config({"epochs": 3}), splits)
    other = train(task, task.make_config({"epochs": 3, "seed": 1}), splits)
    assert first.val_metric == again.val_metric
    assert first.val_metric != other.val_metric


def test_train_at_epochs_equals_separate_trainings(houses):
    """Epoch reuse: the 2-epoch snapshot of a 4-epoch run equals a 2-epoch training."""
    task, splits = houses
    both = train_at_epochs(task, task.make_config({"epochs": 4}), splits, [2, 4])
    alone = train(task, task.make_config({"epochs": 2}), splits)
    assert both[2].val_metric == alone.val_metric and both[2].params["epochs"] == 2
    assert both[4].params["epochs"] == 4 and both[4].train_time_s > both[2].train_time_s


def test_usps_huge_lr_is_a_result(usps):
    """lr=1 does not crash: it ends diverged or near chance."""
    task, splits = usps
    result = train(task, task.make_config({"epochs": 4, "lr": 1.0}), splits)
    assert result.status == "diverged" or result.val_metric < 25.0


def test_non_finite_loss_is_diverged(houses):
    """A loss that becomes NaN stops training with status diverged."""
    task, splits = houses
    cfg = task.make_config({"epochs": 5, "lr": 1e30, "optimizer": "sgd"})
    result = train(task, cfg, splits, chance_patience=0)
    assert result.status == "diverged" and "non-finite" in result.reason


def test_chance_watch_counts_only_stalled_epochs():
    """At chance with a flat training loss counts; a falling loss (slow starter) resets."""
    from hpstudy.train import ChanceWatch

    task = get_task("houses")
    watch = ChanceWatch(chance=1.0)
    assert [watch.update(task, 1.2, loss) for loss in (5.0, 5.0, 5.0)] == [0, 1, 2]
    assert watch.update(task, 1.2, 4.0) == 0  # the training loss fell by more than 1%
    assert watch.update(task, 0.5, 4.0) == 0  # better than chance


def test_slow_starter_is_not_stopped(houses):
    """A tiny learning rate that learns slowly is not stopped as diverged."""
    task, splits = houses
    result = train(task, task.make_config({"epochs": 8, "lr": 1e-4, "activation": "sigmoid"}),
                   splits)
    assert result.status == "ok" and result.epochs_run == 8
