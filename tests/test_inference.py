"""Measuring a split: the oneDNN blocked-tensor path gives the plain forward pass's outputs."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from hpstudy.inference import blocked_prefix, predict
from hpstudy.tasks import get_task
from hpstudy.tasks.base import Splits
from hpstudy.train import Trainer


def usps_like_splits(n: int = 300) -> Splits:
    generator = torch.Generator().manual_seed(0)
    x = torch.rand(n, 1, 16, 16, generator=generator)
    x[:, :, :4] = 0.0  # a blank border, as in the digits: many equal values
    y = torch.randint(0, 10, (n,), generator=generator)
    return Splits(x, y, x[:100], y[:100], x[:50], y[:50])


@pytest.mark.parametrize("overrides", [
    {}, {"width": 8}, {"width": 64}, {"layers": 1}, {"layers": 5}, {"activation": "sigmoid"},
    {"activation": "tanh"}, {"activation": "leaky_relu"}, {"batch_norm": True},
    {"batch_norm": True, "layers": 3, "width": 8}, {"batch_norm": True, "activation": "tanh"},
])
def test_predict_equals_the_plain_forward_pass(overrides: dict) -> None:
    task = get_task("usps")
    cfg = task.make_config(overrides)
    trainer = Trainer(task, cfg, usps_like_splits())
    trainer.run_epoch()  # weights that are not the initial ones
    model, x = trainer.model, trainer.x_train
    prefix = blocked_prefix(model, x)
    assert prefix, "the CNN's convolutions should run on blocked tensors"
    if cfg.batch_norm:  # folded into the convolutions: the whole stack runs blocked
        assert sum(type(m) is nn.BatchNorm2d for m in prefix) == cfg.layers
    with torch.no_grad():
        model.eval()
        plain = model(x)
        model.train()
    fast = predict(model, x, chunk=64)  # several chunks and a partial one
    assert fast.shape == plain.shape
    torch.testing.assert_close(fast, plain, rtol=1e-5, atol=1e-5)
    assert model.training


def test_predict_keeps_eval_mode_and_runs_other_models_as_they_are() -> None:
    model = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 1)).eval()
    x = torch.randn(10, 3)
    assert not blocked_prefix(model, x)
    torch.testing.assert_close(predict(model, x, chunk=3), model(x).detach())
    assert not model.training


def test_unsupported_leading_modules_take_the_plain_path() -> None:
    model = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1, padding_mode="reflect"), nn.ReLU(),
                          nn.Flatten(), nn.Linear(4 * 8 * 8, 2))
    x = torch.randn(5, 1, 8, 8)
    assert not blocked_prefix(model, x)
    assert not blocked_prefix(model.double(), x.double())
    torch.testing.assert_close(predict(model, x.double()), model(x.double()).detach())
    float64_weights = nn.Sequential(nn.Conv2d(1, 4, 3), nn.Flatten()).double()
    assert not blocked_prefix(float64_weights, x)



def test_batch_norm_without_running_statistics_is_not_folded() -> None:
    """A batch normalization that normalizes with the batch's own statistics in eval mode
    cannot be folded: the blocked part stops before it, and the outputs are unchanged."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1),
                          nn.BatchNorm2d(4, track_running_stats=False), nn.ReLU(),
                          nn.Flatten(), nn.Linear(4 * 8 * 8, 2))
    x = torch.randn(6, 1, 8, 8)
    assert [type(m) for m in blocked_prefix(model, x)] == [nn.Conv2d]
    with torch.no_grad():
        plain = model.eval()(x)
    torch.testing.assert_close(predict(model, x, chunk=6), plain, rtol=1e-5, atol=1e-5)


def test_folded_batch_norm_reads_the_running_statistics_of_now() -> None:
    """Folding uses the running statistics and affine parameters as they are at the call
    (trained, not the initial ones): changing them changes the outputs like the plain pass."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(),
                          nn.Flatten(), nn.Linear(4 * 8 * 8, 2))
    x = torch.randn(6, 1, 8, 8)
    norm = model[1]
    with torch.no_grad():
        norm.running_mean.uniform_(-1, 1)
        norm.running_var.uniform_(0.5, 2)
        norm.weight.uniform_(0.5, 2)
        norm.bias.uniform_(-1, 1)
        plain = model.eval()(x)
    torch.testing.assert_close(predict(model, x, chunk=4), plain, rtol=1e-5, atol=1e-5)
