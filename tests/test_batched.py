"""Tests for hpstudy.batched: stacked trainings equal solo `train()` runs."""

from __future__ import annotations

import dataclasses
import itertools
import time
from collections.abc import Iterator

import numpy as np
import pytest
import torch
from torch import nn

from hpstudy import batched
from hpstudy.batched import GroupTraining, build_stack, group_key, mlp_of, plan_runs, train_group
from hpstudy.config import Config
from hpstudy.dropout import PACKED_FROM
from hpstudy.tasks import get_task
from hpstudy.tasks.base import Splits
from hpstudy.tasks.houses import HousesTask
from hpstudy.train import TrialResult, train, train_at_epochs

RTOL, ATOL = 1e-4, 1e-5
HOUSES = get_task("houses")


@pytest.fixture(scope="module", autouse=True)
def one_thread() -> Iterator[None]:
    """Small models train fastest on one thread (and the tests then run fast on busy CPUs)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def splits() -> Splits:
    return HOUSES.load_splits(HOUSES.default_config(), None)


def houses_config(**changes: object) -> Config:
    """A small houses configuration: 3 epochs of 2x8 units, batch 64."""
    return HOUSES.make_config({"epochs": 3, "layers": 2, "width": 8, "batch_size": 64} | changes)


def close(a: float, b: float) -> bool:
    return bool(np.isclose(a, b, rtol=RTOL, atol=ATOL, equal_nan=True))


def assert_same(stacked: TrialResult, solo: TrialResult) -> None:
    """Equal labels and status; metrics, losses, extras and curves within tolerance."""
    assert (stacked.params, stacked.status, stacked.reason, stacked.epochs_run) == (
        solo.params, solo.status, solo.reason, solo.epochs_run)
    for name in ("train_metric", "val_metric", "train_loss", "val_loss"):
        assert close(getattr(stacked, name), getattr(solo, name)), name
    assert stacked.extra.keys() == solo.extra.keys()
    assert all(close(stacked.extra[k], solo.extra[k]) for k in solo.extra)
    assert stacked.curves.keys() == solo.curves.keys()
    for name, values in solo.curves.items():
        assert len(stacked.curves[name]) == len(values), name
        assert all(close(a, b) for a, b in zip(stacked.curves[name], values, strict=True)), name


def assert_matches_solo(cfgs: list[Config], splits: Splits, chance_patience: int = 3) -> None:
    stacked = train_group(HOUSES, cfgs, splits, chance_patience=chance_patience)
    for cfg, result in zip(cfgs, stacked, strict=True):
        assert_same(result, train(HOUSES, cfg, splits, chance_patience=chance_patience))


def test_train_group_mixed_group_matches_solo(splits: Splits) -> None:
    """Seeds, lrs, all optimizers, weight decay and epochs mixed in one group equal solo runs."""
    adam = [houses_config(seed=s, lr=lr) for s, lr in enumerate([1e-3, 2e-3, 5e-3, 1e-2, 3e-2])]
    cfgs = adam + [
        houses_config(seed=7, optimizer="adamw", weight_decay=0.1),
        houses_config(seed=8, optimizer="rmsprop", lr=3e-3, weight_decay=1e-3),
        houses_config(seed=9, optimizer="sgd", lr=0.02, weight_decay=1e-2, epochs=2),
        houses_config(seed=1, lr=2e-3, epochs=4, weight_decay=1e-2),
    ]
    assert_matches_solo(cfgs, splits)


@pytest.mark.parametrize("optimizer", ["adam", "adamw", "rmsprop", "sgd"])
def test_train_group_per_model_lr_columns_match_solo(splits: Splits, optimizer: str) -> None:
    """Many distinct (lr, weight_decay) pairs (per-model columns, not fused blocks) match solo."""
    pairs = [(1e-3, 0.0), (2e-3, 0.01), (3e-3, 0.0), (4e-3, 0.1), (5e-3, 0.0), (6e-3, 0.0)]
    assert len(pairs) > batched.MAX_FUSED_BLOCKS
    cfgs = [houses_config(seed=s, lr=lr, weight_decay=decay, optimizer=optimizer, epochs=2)
            for s, (lr, decay) in enumerate(pairs)]
    assert_matches_solo(cfgs, splits)


def test_train_group_gaussian_nll_matches_solo(splits: Splits) -> None:
    """The gaussian_nll loss (two outputs, autograd loss gradient) equals solo runs."""
    cfgs = [houses_config(seed=s, loss="gaussian_nll") for s in range(3)]
    cfgs.append(houses_config(seed=3, loss="gaussian_nll", optimizer="sgd", lr=0.01))
    assert_matches_solo(cfgs, splits)


def test_train_group_without_normalize_matches_solo() -> None:
    """Raw features and target (normalize=False) train as solo runs do."""
    cfgs = [houses_config(seed=s, normalize=False, epochs=2, activation="tanh") for s in range(2)]
    raw = HOUSES.load_splits(cfgs[0], None)
    assert_matches_solo(cfgs, raw, chance_patience=0)


@pytest.mark.parametrize("activation", ["sigmoid", "leaky_relu", "gelu", "elu", "silu"])
def test_train_group_activation_matches_solo(splits: Splits, activation: str) -> None:
    """Each activation's hand-written backward gives the solo results."""
    assert_matches_solo([houses_config(activation=activation, epochs=2, layers=1)], splits)


def test_train_at_epochs_reuse_equals_separate_solo_runs(splits: Splits) -> None:
    """Solo: one run measured at several epochs equals separate runs, exactly."""
    cfg = houses_config(seed=3)
    reused = train_at_epochs(HOUSES, cfg, splits, [1, 3])
    for epochs in (1, 3):
        separate = train(HOUSES, cfg.replace(epochs=epochs), splits)
        assert dataclasses.replace(reused[epochs], train_time_s=0.0) == dataclasses.replace(
            separate, train_time_s=0.0)


def test_train_group_epoch_reuse_equals_separate_runs(splits: Splits) -> None:
    """Configs differing only in epochs come from one stacked run and equal separate runs."""
    cfgs = [houses_config(seed=2, epochs=e) for e in (4, 1, 3)] + [houses_config(seed=5)]
    runs = plan_runs(HOUSES, cfgs, splits, chance_patience=3)
    assert [run.wanted for run in runs.values()] == [[1, 3, 4], [3]]
    assert_matches_solo(cfgs, splits)


def test_train_group_divergence_is_marked_like_solo(splits: Splits) -> None:
    """A non-finite loss stops one model as diverged; the others train on unchanged."""
    cfgs = [houses_config(optimizer="sgd", lr=50.0, epochs=3), houses_config(seed=1),
            houses_config(optimizer="sgd", lr=50.0, epochs=1)]
    results = train_group(HOUSES, cfgs, splits)
    assert [r.status for r in results] == ["diverged", "ok", "diverged"]
    assert "non-finite training loss at epoch 1" in results[0].reason
    for cfg, result in zip(cfgs, results, strict=True):
        assert_same(result, train(HOUSES, cfg, splits))


def test_train_group_chance_level_stop_matches_solo(splits: Splits) -> None:
    """`chance_patience` epochs at chance level stop a model as diverged, as solo does."""
    cfgs = [houses_config(lr=1e-7, epochs=5), houses_config(seed=1, lr=1e-2, epochs=5)]
    results = train_group(HOUSES, cfgs, splits, chance_patience=2)
    assert [r.status for r in results] == ["diverged", "ok"]
    # the first epoch always lowers the best training loss, so epochs 2 and 3 count
    assert results[0].epochs_run == 3 and "chance level" in results[0].reason
    assert_matches_solo(cfgs, splits, chance_patience=2)


def fake_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    ticks: Iterator[int] = itertools.count()
    monkeypatch.setattr(batched, "_clock", lambda: float(next(ticks)))


def test_train_group_time_shares_follow_active_models(
    splits: Splits, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each epoch's wall time is split among the models that ran in it."""
    fake_clock(monkeypatch)  # every epoch lasts exactly one second
    cfgs = [houses_config(seed=s, epochs=e) for s, e in enumerate((1, 2, 4))]
    results = train_group(HOUSES, cfgs, splits)
    expected = [1 / 3, 1 / 3 + 1 / 2, 1 / 3 + 1 / 2 + 1 + 1]
    assert [r.train_time_s for r in results] == pytest.approx(expected)
    assert sum(r.train_time_s for r in results) == pytest.approx(4.0)


def test_train_group_time_shares_sum_to_about_group_wall_time(splits: Splits) -> None:
    """The shares of a real run add up to no more than the call's wall time, and most of it."""
    cfgs = [houses_config(seed=s, epochs=4) for s in range(4)]
    started = time.perf_counter()
    results = train_group(HOUSES, cfgs, splits)
    wall = time.perf_counter() - started
    total = sum(r.train_time_s for r in results)
    assert 0.2 * wall < total <= wall
    assert max(r.train_time_s for r in results) == pytest.approx(total / 4)


class WideHouses(HousesTask):
    """A user task with its own model builder."""

    name = "wide-houses"

    def build_model(self, cfg: Config, splits: Splits) -> nn.Module:
        return nn.Sequential(nn.Linear(splits.x_train.shape[1], 1))


def test_group_key_none_for_unstackable_tasks() -> None:
    """The CNN task and tasks with their own model builder are not vectorized."""
    usps = get_task("usps")
    assert group_key(usps, usps.default_config()) is None
    custom = WideHouses()
    assert group_key(custom, custom.default_config()) is None


@pytest.mark.parametrize(
    ("change", "shared"),
    [({"seed": 4}, True), ({"lr": 0.1}, True), ({"epochs": 7}, True),
     ({"optimizer": "sgd", "weight_decay": 0.1}, True), ({"width": 32}, False),
     ({"batch_size": 8}, False), ({"loss": "gaussian_nll"}, False),
     ({"normalize": False}, False), ({"activation": "tanh"}, False),
     ({"dropout": 0.2}, False)],
)
def test_group_key_shares_only_same_shape(change: dict[str, object], shared: bool) -> None:
    """Seed, lr, epochs, optimizer and decay may differ within a group; shape and data not."""
    base = HOUSES.default_config()
    assert (group_key(HOUSES, base) == group_key(HOUSES, base.replace(**change))) is shared


def test_train_group_mixed_keys_raise(splits: Splits) -> None:
    """Configs of different shapes cannot be one group."""
    with pytest.raises(ValueError, match="cannot be trained as one group"):
        train_group(HOUSES, [houses_config(), houses_config(width=4)], splits)


def test_train_group_empty_returns_empty(splits: Splits) -> None:
    """No configs, no results."""
    assert train_group(HOUSES, [], splits) == []


@pytest.mark.parametrize(
    "model",
    [nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU(), nn.Linear(2, 1)),
     nn.Sequential(nn.Linear(2, 2), nn.ReLU(), nn.Linear(2, 2), nn.Tanh(), nn.Linear(2, 1)),
     nn.Sequential(nn.Linear(2, 2), nn.Dropout(), nn.Linear(2, 1)), nn.Linear(2, 1),
     nn.Sequential(nn.Linear(2, 2), nn.Dropout(), nn.ReLU(), nn.Linear(2, 1)),
     nn.Sequential(nn.Linear(2, 2), nn.ReLU(), nn.Dropout(0.1), nn.Linear(2, 2), nn.ReLU(),
                   nn.Dropout(0.2), nn.Linear(2, 1)),
     nn.Sequential(nn.Linear(2, 2), nn.ReLU(), nn.Dropout(0.1), nn.Linear(2, 2), nn.ReLU(),
                   nn.Linear(2, 1))],
)
def test_mlp_of_non_mlp_raises(model: nn.Module) -> None:
    """Only Linear, activation, [Dropout,] ..., Linear with one activation type and one
    dropout probability after every activation can be stacked."""
    with pytest.raises(ValueError, match="Only a Sequential of Linear layers"):
        mlp_of(model)


def test_loss_gradient_mse_shortcut_equals_autograd(splits: Splits) -> None:
    """The mse gradient computed without autograd equals autograd through the task's loss."""
    cfgs = [houses_config(seed=s) for s in range(3)]
    runs = plan_runs(HOUSES, cfgs, splits, chance_patience=3)
    training = GroupTraining(HOUSES, splits, list(runs.values()),
                             build_stack(HOUSES, runs, splits, "cpu"), 3)
    assert training.plain_mse
    out, target = torch.randn(3, 16, 1), torch.randn(3, 16, 1)
    shortcut = training.loss_gradient(out, target)
    training.plain_mse = False
    assert torch.allclose(shortcut, training.loss_gradient(out, target), rtol=1e-6, atol=0)


def test_mlp_of_reads_dropout_after_each_activation() -> None:
    model = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Dropout(0.3), nn.Linear(4, 4),
                          nn.ReLU(), nn.Dropout(0.3), nn.Linear(4, 1))
    mlp, linears = mlp_of(model)
    assert (mlp.sizes, mlp.dropout, len(linears)) == ((3, 4, 4, 1), 0.3, 3)
    assert mlp_of(nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 1)))[0].dropout == 0.0


@pytest.mark.parametrize("width", [8, 64])
def test_train_group_with_dropout_matches_solo(splits: Splits, width: int) -> None:
    """Each model of a stack draws its dropout noise from torch's state after its own
    initialisation, as a solo training does: seeds and rates differ, results match; the last
    batch of an epoch is smaller (1000 rows, batch 64). Width 64: a batch's noise is drawn
    packed (`hpstudy.dropout.PACKED_FROM`), width 8: as torch draws it."""
    assert 64 * 8 < PACKED_FROM <= 64 * 64
    cfgs = [houses_config(dropout=0.25, seed=s, lr=lr, epochs=4, width=width)
            for s, lr in ((0, 0.003), (1, 0.003), (2, 0.01))]
    assert group_key(HOUSES, cfgs[0]) is not None
    assert_matches_solo(cfgs, splits)


def test_dropout_noise_differs_between_models_and_steps(splits: Splits) -> None:
    """Without the per-model generators every model would see the same noise: two seeds with
    equal initial weights would then train alike. Dropout changes the numbers (it is used)."""
    plain = train_group(HOUSES, [houses_config(epochs=2)], splits)[0]
    dropped = train_group(HOUSES, [houses_config(epochs=2, dropout=0.5)], splits)[0]
    assert not close(plain.val_metric, dropped.val_metric)
    generators = [torch.Generator().manual_seed(s) for s in (0, 1)]
    mlp = mlp_of(HOUSES.build_model(houses_config(dropout=0.5), splits))[0]
    first = batched.dropout_masks(mlp, generators, 16, torch.device("cpu"))
    second = batched.dropout_masks(mlp, generators, 16, torch.device("cpu"))
    assert len(first) == 2 and first[0].shape == (2, 16, 8)
    assert not torch.equal(first[0][0], first[0][1])
    assert not torch.equal(first[0], second[0])
    assert set(first[0].unique().tolist()) == {0.0, 2.0}


def test_stacks_side_by_side_are_judged_together_and_equal_alone(splits: Splits) -> None:
    """Stacks of different shapes train one epoch each in turn: the judge sees every run of
    both at each epoch, and each stack's results equal its training alone."""
    narrow = [houses_config(seed=s, epochs=4) for s in (0, 1)]
    wide = [houses_config(width=16, batch_size=32, dropout=0.1, epochs=4)]
    calls: list[tuple[int, int]] = []

    def judge(epoch: int, values: list[tuple[Config, float]]) -> set[Config]:
        calls.append((epoch, len(values)))
        return {narrow[1]} if epoch == 2 else set()

    together = batched.train_groups(HOUSES, [narrow, wide], splits, judge=judge)
    assert calls == [(1, 3), (2, 3), (3, 2)]  # the last epoch ends every run: nothing to judge
    assert together[0][1].status == "pruned" and together[0][1].epochs_run == 2
    for alone, side in ((train_group(HOUSES, narrow, splits)[:1], together[0][:1]),
                        (train_group(HOUSES, wide, splits), together[1])):
        assert_same(side[0], alone[0])


def test_side_by_side_tells_each_run_at_the_end_of_its_epoch(splits: Splits) -> None:
    """A run that ends early (pruned, or shorter) is handed to `finished` at the end of the
    epoch it ended in, before the others go on; each once, with the result returned."""
    narrow = [houses_config(seed=s, epochs=4) for s in (0, 1)] + [houses_config(seed=2, epochs=2)]
    wide = [houses_config(width=16, batch_size=32, epochs=4)]
    told: list[list[tuple[Config, batched.TrialResult]]] = []

    def judge(epoch: int, values: list[tuple[Config, float]]) -> set[Config]:
        return {narrow[1]} if epoch == 1 else set()

    together = batched.train_groups(HOUSES, [narrow, wide], splits, judge=judge,
                                    finished=lambda items: told.append(list(items)))
    assert [{cfg for cfg, _ in items} for items in told] == [
        {narrow[1]}, {narrow[2]}, {narrow[0], wide[0]}]
    assert [result.epochs_run for items in told for _, result in items][:2] == [1, 2]
    returned = dict(zip(narrow + wide, together[0] + together[1], strict=True))
    for items in told:
        for cfg, result in items:
            assert result == returned[cfg]
