"""USPS's `augment_shift`: random translations of training images only, drawn from the
training seed; and its `dropout` and `batch_norm` knobs, off by default."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.nn import functional

from hpstudy.tasks import get_task
from hpstudy.tasks.usps import random_shift
from hpstudy.train import Trainer

USPS = get_task("usps")


def test_random_shift_translates_each_image_by_at_most_the_limit() -> None:
    """Every output image is its input moved by some (dy, dx) with |dy|, |dx| <= 2, zeros
    shifted in; the shifts vary between images."""
    x = torch.rand(64, 1, 16, 16, generator=torch.Generator().manual_seed(1))
    shifted = random_shift(x, 2, torch.Generator().manual_seed(0))
    padded = functional.pad(x, (2, 2, 2, 2))
    found = set()
    for image, out in zip(padded, shifted, strict=True):
        matches = [(dy, dx) for dy in range(5) for dx in range(5)
                   if torch.equal(image[:, dy:dy + 16, dx:dx + 16], out)]
        assert matches, "an output image is not a translation of its input"
        found.add(matches[0])
    assert len(found) > 10


def test_random_shift_is_fixed_by_the_generator_seed() -> None:
    x = torch.rand(32, 1, 16, 16)
    same = [random_shift(x, 1, torch.Generator().manual_seed(5)) for _ in range(2)]
    other = random_shift(x, 1, torch.Generator().manual_seed(6))
    assert torch.equal(*same) and not torch.equal(same[0], other)


class SpyTask(type(USPS)):  # type: ignore[misc]
    """The USPS task, recording every tensor handed to `augment`."""

    def __init__(self) -> None:
        self.seen: list[torch.Tensor] = []

    def augment(self, cfg, x, generator):
        self.seen.append(x)
        return super().augment(cfg, x, generator)


def test_augmentation_never_touches_validation_or_test_inputs() -> None:
    """The trainer hands only the epoch's training batch to `augment`, once per epoch; the
    validation and test tensors are unchanged after training."""
    task = SpyTask()
    cfg = task.make_config({"epochs": 2, "width": 4, "augment_shift": 2})
    splits = task.load_splits(cfg, None)
    val, test = splits.x_val.clone(), splits.x_test.clone()
    trainer = Trainer(task, cfg, splits)
    for _ in range(2):
        trainer.run_epoch()
    trainer.snapshot("ok")
    assert len(task.seen) == 2
    assert all(len(x) == len(splits.x_train) for x in task.seen)
    assert torch.equal(splits.x_val, val) and torch.equal(splits.x_test, test)


def test_same_seed_same_shifts_other_seed_other_shifts() -> None:
    """Two trainings with one seed see the same shifts (equal results); shifting changes the
    training, and so does another seed."""
    def curve(**values: object) -> list[float]:
        cfg = USPS.make_config({"epochs": 1, "width": 4} | values)
        trainer = Trainer(USPS, cfg, USPS.load_splits(cfg, None))
        trainer.run_epoch()
        return trainer.curves["train_loss"] + trainer.curves["val_metric"]

    shifted = curve(augment_shift=2)
    assert shifted == curve(augment_shift=2)
    assert shifted != curve(augment_shift=0)
    assert curve(augment_shift=2, seed=1) != curve(augment_shift=0, seed=1)


def test_new_knobs_are_off_by_default_and_build_what_they_say() -> None:
    """Defaults build the report's CNN exactly; dropout and batch_norm add their modules."""
    plain = USPS.build_model(USPS.default_config(), None)  # type: ignore[arg-type]
    assert not any(isinstance(m, nn.Dropout | nn.BatchNorm2d) for m in plain.modules())
    model = USPS.build_model(USPS.make_config({"dropout": 0.3, "batch_norm": True}),
                             None)  # type: ignore[arg-type]
    kinds = [type(m) for m in model]
    assert kinds.count(nn.BatchNorm2d) == 2 and kinds[-2] is nn.Dropout
    assert model[-2].p == pytest.approx(0.3)
