"""hpstudy's dropout: torch's distribution, fewer random draws, the same in a stack as solo."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from hpstudy.dropout import PACKED_FROM, Dropout, drop_probability, dropout_noise, fast_dropout
from hpstudy.tasks import get_task
from hpstudy.train import Trainer


@pytest.mark.parametrize("p", [0.1, 0.5, 0.9])
def test_packed_noise_drops_p_of_the_values_at_every_place_of_a_word(p: float) -> None:
    """Each 64-bit draw gives four values: each of the four places drops p of the values (a
    draw that left a bit out of the range would skew one place), and the noise is unbiased."""
    values = 400_000
    noise = dropout_noise((values // 100, 100), p, torch.Generator().manual_seed(1))
    assert set(noise.unique().tolist()) == pytest.approx([0.0, 1 / (1 - drop_probability(p))])
    dropped = (noise == 0).reshape(-1, 4).double().mean(0)
    spread = 5 * (p * (1 - p) / (values / 4)) ** 0.5
    assert torch.all((dropped - p).abs() < spread), dropped
    assert float(noise.double().mean()) == pytest.approx(1.0, abs=5 * spread)


def test_noise_follows_its_generator_and_small_tensors_draw_as_torch() -> None:
    big = (32, PACKED_FROM // 16)
    first = dropout_noise(big, 0.3, torch.Generator().manual_seed(0))
    assert torch.equal(first, dropout_noise(big, 0.3, torch.Generator().manual_seed(0)))
    assert not torch.equal(first, dropout_noise(big, 0.3, torch.Generator().manual_seed(1)))
    small = dropout_noise((4, 8), 0.3, torch.Generator().manual_seed(0))
    torch_noise = torch.empty(4, 8).bernoulli_(0.7, generator=torch.Generator().manual_seed(0))
    assert torch.equal(small, torch_noise.div_(0.7))
    assert torch.equal(dropout_noise(big, 1.0), torch.zeros(big))


def test_packed_draws_fewer_numbers_than_torch() -> None:
    """Torch's dropout advances the generator once per value, hpstudy's once per four
    (what makes it faster): after the same noise, the generators stand apart."""
    shape = (64, 1024)
    ours, theirs = torch.Generator().manual_seed(0), torch.Generator().manual_seed(0)
    dropout_noise(shape, 0.3, ours)
    torch.empty(shape).bernoulli_(0.7, generator=theirs)
    assert not torch.equal(ours.get_state(), theirs.get_state())
    skip = torch.Generator().manual_seed(0)
    torch.empty(64 * 1024 // 4, dtype=torch.int64).random_(-2**63, None, generator=skip)
    assert torch.equal(ours.get_state(), skip.get_state())


def test_module_drops_in_training_only_and_its_gradient_is_the_noise() -> None:
    layer = Dropout(0.4)
    x = torch.randn(64, 256, requires_grad=True)
    torch.manual_seed(3)
    out = layer(x)
    (grad,) = torch.autograd.grad(out.sum(), x)
    assert torch.allclose(out, x.detach() * grad)
    assert 0.3 < float((grad == 0).double().mean()) < 0.5
    assert torch.equal(layer.eval()(x), x)
    assert torch.equal(Dropout(0.0).train()(x), x)


def test_trainer_swaps_torch_dropout_and_keeps_the_state_dict() -> None:
    model = nn.Sequential(nn.Linear(4, 8), nn.Dropout(0.2),
                          nn.Sequential(nn.Linear(8, 8), nn.Dropout(0.5)), nn.Linear(8, 1))
    keys = list(model.state_dict())
    fast_dropout(model)
    swapped = [m for m in model.modules() if isinstance(m, nn.Dropout)]
    assert [type(m) for m in swapped] == [Dropout, Dropout]
    assert [m.p for m in swapped] == [0.2, 0.5]
    assert list(model.state_dict()) == keys
    task = get_task("usps")
    cfg = task.make_config({"dropout": 0.3, "layers": 1, "epochs": 1})
    trainer = Trainer(task, cfg, task.load_splits(cfg, None))
    assert any(type(m) is Dropout for m in trainer.model.modules())
