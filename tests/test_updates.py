"""The solo trainer's speed levers give torch.optim's and the model's own results:
direct optimizer updates, and max-pooling run before a monotone activation."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from hpstudy.config import Config
from hpstudy.errors import ConfigError
from hpstudy.schedules import steps_per_epoch, torch_scheduler
from hpstudy.tasks import get_task
from hpstudy.train import Trainer, pool_before_activation
from hpstudy.train_params import momentum_of
from hpstudy.updates import DirectOptimizer


def torch_optimizer(kind: str, params: list[torch.Tensor], lr: float, decay: float,
                    momentum: float | None = None) -> torch.optim.Optimizer:
    if kind == "adam":
        return torch.optim.Adam(params, lr=lr, weight_decay=decay)
    if kind == "adamw":
        return torch.optim.AdamW(params, lr=lr, weight_decay=decay)
    if kind == "rmsprop":
        return torch.optim.RMSprop(params, lr=lr, weight_decay=decay,
                                   momentum=momentum_of(kind, momentum))
    return torch.optim.SGD(params, lr=lr, momentum=momentum_of(kind, momentum),
                           weight_decay=decay)


@pytest.mark.parametrize(("kind", "momentum"), [
    ("adam", None), ("adamw", None), ("sgd", None), ("sgd", 0.0), ("sgd", 0.5),
    ("rmsprop", None), ("rmsprop", 0.5)])
@pytest.mark.parametrize("decay", [0.0, 0.05])
def test_direct_optimizer_equals_torch_optim(kind: str, momentum: float | None,
                                             decay: float) -> None:
    """Ten steps on the same gradients: the same parameters as torch.optim's (non-fused)
    implementation, within float rounding (momentum unset: sgd 0.9, rmsprop 0)."""
    generator = torch.Generator().manual_seed(0)
    shapes = [(4, 3), (3,), (2, 3, 3, 3)]
    ours = [torch.randn(shape, generator=generator) for shape in shapes]
    theirs = [nn.Parameter(p.clone()) for p in ours]
    initial = [p.clone() for p in ours]
    direct = DirectOptimizer(kind, ours, lr=0.01, weight_decay=decay,
                             momentum=momentum_of(kind, momentum))
    reference = torch_optimizer(kind, theirs, lr=0.01, decay=decay, momentum=momentum)
    for _ in range(10):
        grads = [torch.randn(shape, generator=generator) for shape in shapes]
        direct.step(grads)
        for param, grad in zip(theirs, grads, strict=True):
            param.grad = grad.clone()
        reference.step()
    for mine, expected in zip(ours, theirs, strict=True):
        assert torch.allclose(mine, expected.detach(), rtol=1e-5, atol=1e-7)
    assert all(not torch.allclose(p, start) for p, start in zip(ours, initial, strict=True))


def cnn(activation: nn.Module) -> nn.Sequential:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), activation, nn.MaxPool2d(2),
                         nn.Conv2d(4, 4, 3, padding=1), copy.deepcopy(activation),
                         nn.MaxPool2d(2), nn.Flatten(), nn.Linear(16, 3))


@pytest.mark.parametrize("activation", [nn.ReLU(), nn.Sigmoid(), nn.Tanh(), nn.LeakyReLU(0.1),
                                        nn.ELU()])
def test_pool_before_monotone_activation_same_function_and_gradients(activation) -> None:
    original = cnn(activation)
    reordered = pool_before_activation(copy.deepcopy(original))
    assert [type(m) for m in reordered][1:3] == [nn.MaxPool2d, type(activation)]
    assert list(reordered.state_dict()) == list(original.state_dict())
    x = torch.randn(8, 1, 8, 8)
    out, out_reordered = original(x), reordered(x)
    assert torch.allclose(out, out_reordered, atol=1e-6)
    grads = torch.autograd.grad(out.square().sum(), list(original.parameters()))
    grads_reordered = torch.autograd.grad(out_reordered.square().sum(),
                                          list(reordered.parameters()))
    for grad, other in zip(grads, grads_reordered, strict=True):
        assert torch.allclose(grad, other, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("activation", [nn.GELU(), nn.LeakyReLU(-0.5), nn.SiLU()])
def test_non_monotone_activation_keeps_its_place(activation) -> None:
    model = pool_before_activation(cnn(activation))
    assert [type(m) for m in model][1:3] == [type(activation), nn.MaxPool2d]


def textbook_run(task_name: str, cfg: Config, nudge: float = 0.0) -> tuple[list[float], float]:
    """torch.optim, torch.optim.lr_scheduler, clip_grad_norm_ and loss.backward(), with the
    trainer's seeding and shuffle order, the initial weights times 1 + `nudge`; returns the mean
    training loss per epoch and the final validation metric."""
    task = get_task(task_name)
    splits = task.load_splits(cfg, None)
    torch.manual_seed(cfg.seed)
    model = task.build_model(cfg, splits)
    with torch.no_grad():
        for param in model.parameters():
            param.mul_(1 + nudge)
    optimizer = torch_optimizer(cfg.optimizer, list(model.parameters()), cfg.lr,
                                cfg.weight_decay, cfg.momentum)
    scheduler = None
    if cfg.schedule != "none" or cfg.warmup_epochs:
        total = cfg.epochs * steps_per_epoch(len(splits.x_train), cfg.batch_size)
        scheduler = torch_scheduler(cfg, optimizer, total)
    shuffle = torch.Generator().manual_seed(cfg.seed)
    losses = []
    for _ in range(cfg.epochs):
        order = torch.randperm(len(splits.x_train), generator=shuffle)
        x, y = splits.x_train[order], splits.y_train[order]
        total = 0.0
        for start in range(0, len(x), cfg.batch_size):
            loss = task.loss(cfg, model(x[start:start + cfg.batch_size]),
                             y[start:start + cfg.batch_size])
            optimizer.zero_grad()
            loss.backward()
            if cfg.grad_clip:
                nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
            optimizer.step()
            if scheduler is not None:
                scheduler.step()
            total += float(loss.detach()) * len(y[start:start + cfg.batch_size])
        losses.append(total / len(x))
    with torch.no_grad():
        model.eval()
        val_metric = task.metric(cfg, model(splits.x_val), splits.y_val, splits)
    return losses, val_metric


@pytest.mark.parametrize(("task_name", "overrides"), [
    ("usps", {"epochs": 1, "optimizer": "rmsprop"}),
    ("usps", {"epochs": 1, "activation": "tanh", "loss": "cross_entropy"}),
    ("houses", {"epochs": 3, "optimizer": "adamw", "weight_decay": 0.01}),
    ("houses", {"epochs": 3, "optimizer": "sgd", "lr": 0.01}),
    ("houses", {"epochs": 3, "optimizer": "sgd", "lr": 0.01, "momentum": 0.5}),
    ("houses", {"epochs": 3, "optimizer": "rmsprop", "momentum": 0.8}),
    ("houses", {"epochs": 3, "schedule": "cosine", "lr": 0.01}),
    ("houses", {"epochs": 4, "schedule": "step", "lr": 0.01, "warmup_epochs": 1}),
    ("houses", {"epochs": 3, "schedule": "onecycle", "lr": 0.01}),
    ("houses", {"epochs": 3, "warmup_epochs": 2}),
    ("houses", {"epochs": 3, "grad_clip": 0.05, "lr": 0.01}),
    ("usps", {"epochs": 2, "schedule": "onecycle", "lr": 0.01, "warmup_epochs": 1,
              "grad_clip": 0.5, "loss": "cross_entropy"}),
])
def test_trainer_equals_textbook_training(task_name: str, overrides: dict) -> None:
    """The trainer (direct updates, pooling first, channels_last, precomputed schedules,
    direct clipping) trains the model the textbook loop trains: same losses and validation
    metric within float rounding. Training makes rounding grow, by how much depends on the
    configuration and on the CPU's kernels (a high learning rate: from 1e-8 after one epoch to
    1e-3 after two), so the losses may differ by 1e-4 or by four times the change that a 1e-7
    change of the initial weights makes to the textbook's own losses, whichever is larger."""
    task = get_task(task_name)
    cfg = task.make_config(overrides)
    losses, val_metric = textbook_run(task_name, cfg)
    nudged, _ = textbook_run(task_name, cfg, nudge=1e-7)
    trainer = Trainer(task, cfg, task.load_splits(cfg, None))
    for _ in range(cfg.epochs):
        trainer.run_epoch()
    for ours, theirs, moved in zip(trainer.curves["train_loss"], losses, nudged, strict=True):
        assert ours == pytest.approx(theirs, rel=1e-4, abs=4 * abs(moved - theirs))
    tolerance = 0.2 if task.direction == "maximize" else 1e-4  # one of 1,291 images may flip
    assert trainer.curves["val_metric"][-1] == pytest.approx(val_metric, rel=tolerance,
                                                             abs=tolerance)


def test_direct_optimizer_needs_parameters() -> None:
    with pytest.raises(ConfigError, match="no trainable parameters"):
        DirectOptimizer("adam", [], lr=0.01, weight_decay=0.0)
