"""Dropout with its noise drawn four values per 64-bit random number.

torch's dropout on the CPU draws one Bernoulli number per value (`bernoulli_`, about 20 ns a
value on one thread): on a USPS CNN with one convolution, whose last feature map is large,
about a third of an epoch. Here each 64-bit number drawn from the generator (torch's own, or
the one given) gives four 16-bit uniforms, each kept when it is at or above the drop
probability rounded to a multiple of 1/65536, and kept values are scaled by 1 / (1 - that
probability): the same distribution as torch's with p rounded by at most 7.7e-6, unbiased,
and 1.5x to 3x faster per call on the USPS CNNs' feature maps (`bench/dropout.py`). Below
`PACKED_FROM` values, the few more tensor operations cost more than they save, and the noise
is torch's own draw (`bernoulli_`, then `div_`, as `nn.Dropout`). The packed draws are not
torch's, so a large layer trained with them differs from one trained with `nn.Dropout` by the
noise, not by its statistics.
"""

from __future__ import annotations

import math

import torch
from torch import nn

LEVELS = 2**16  # 16-bit uniforms: the drop probability is a multiple of 1 / LEVELS
PACKED_FROM = 2048  # values; below, the per-operation overhead outweighs the faster draws


def dropped_levels(p: float) -> int:
    """How many of the 65,536 levels of a 16-bit uniform drop a value: `p` (below 1) rounded."""
    return min(round(p * LEVELS), LEVELS - 1)


def drop_probability(p: float) -> float:
    """The probability with which `dropout_noise` drops each of `PACKED_FROM` values or more."""
    return dropped_levels(p) / LEVELS


def dropout_noise(shape: tuple[int, ...] | torch.Size, p: float,
                  generator: torch.Generator | None = None,
                  device: torch.device | str = "cpu") -> torch.Tensor:
    """Dropout's multiplicative noise (float32): 0 with probability `p` (from `PACKED_FROM`
    values on, `drop_probability(p)`), else 1 / (1 - that probability); drawn from `generator`
    (None: torch's default one)."""
    count = math.prod(shape)
    if p >= 1:
        return torch.zeros(shape, device=device)
    if count < PACKED_FROM:
        noise = torch.empty(shape, device=device)
        return noise.bernoulli_(1 - p, generator=generator).div_(1 - p)
    words = torch.empty((count + 3) // 4, dtype=torch.int64, device=device)
    words.random_(-2**63, None, generator=generator)  # all 64 bits uniform
    uniforms = words.view(torch.int16)  # each in [-32768, 32767]
    if len(uniforms) != count:
        uniforms = uniforms[:count]
    dropped = dropped_levels(p)
    keep = uniforms.view(shape) >= dropped - LEVELS // 2
    return keep.mul(LEVELS / (LEVELS - dropped))


class Dropout(nn.Dropout):
    """`nn.Dropout` with its noise from `dropout_noise` (torch's default generator)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0:
            return x
        return x * dropout_noise(x.shape, self.p, device=x.device).to(x.dtype)


def swap_dropout(model: nn.Module, old: type[nn.Dropout], new: type[nn.Dropout]) -> nn.Module:
    """`model` with every module of exactly type `old` replaced by `new` of the same
    probability (in place; dropout has no parameters, so the state dict is unchanged)."""
    for name, child in model.named_children():
        if type(child) is old:
            setattr(model, name, new(child.p))
        else:
            swap_dropout(child, old, new)
    return model


def fast_dropout(model: nn.Module) -> nn.Module:
    """`model` with every `nn.Dropout` module replaced by hpstudy's `Dropout`."""
    return swap_dropout(model, nn.Dropout, Dropout)
