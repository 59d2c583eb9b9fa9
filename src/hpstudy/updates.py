"""Optimizer updates as torch.optim computes them, called directly.

For small models the Python work of `torch.optim.Optimizer.step` (hooks, grouping, state
lookups) costs more than the arithmetic. These functions call the kernels torch.optim itself
uses: its fused Adam/AdamW/SGD kernels for a learning rate shared by all tensors, and foreach
kernels for RMSprop or for an lr and weight decay given per row (a column tensor that broadcasts
over a leading model dimension, as `hpstudy.batched` stacks models). The rules are torch.optim's
defaults: Adam betas (0.9, 0.999), eps 1e-8; RMSprop alpha 0.99, eps 1e-8; the momentum of SGD and
RMSprop is the configuration's (`hpstudy.train_params.momentum_of`: SGD 0.9, RMSprop 0 unless set).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from hpstudy.errors import ConfigError

Tensor = torch.Tensor
ADAM_BETAS, ADAM_EPS = (0.9, 0.999), 1e-8
RMSPROP_ALPHA, RMSPROP_EPS = 0.99, 1e-8
FUSED_OPTIMIZERS = ("adam", "adamw", "sgd")  # torch has fused CPU/CUDA kernels for these
FUSED_DEVICES = ("cpu", "cuda")


class OptimizerState:
    """The state of one optimizer over `params`: two buffers per tensor (adam: means of the
    gradient and of its square; rmsprop: the square mean and the momentum; sgd: the momentum)
    and the step."""

    def __init__(self, params: Sequence[Tensor]):
        self.first = [torch.zeros_like(p) for p in params]
        self.second = [torch.zeros_like(p) for p in params]
        self.steps = 0
        self.step_count = torch.zeros((), device=params[0].device)  # the fused kernels read it

    def advance(self) -> None:
        self.steps += 1
        self.step_count.fill_(self.steps)

    def keep(self, index: Tensor) -> None:
        """Keep the rows `index` of every buffer (stacked models that go on training)."""
        self.first = [t.index_select(0, index) for t in self.first]
        self.second = [t.index_select(0, index) for t in self.second]


def can_fuse(kind: str, params: Sequence[Tensor]) -> bool:
    return kind in FUSED_OPTIMIZERS and all(
        p.device.type in FUSED_DEVICES and p.is_floating_point() for p in params)


def fused_update(kind: str, params: list[Tensor], grads: list[Tensor], first: list[Tensor],
                 second: list[Tensor], state: OptimizerState, lr: float, decay: float,
                 momentum: float) -> None:
    """torch.optim's fused update of tensors sharing one lr and weight decay."""
    if kind == "sgd":
        torch._fused_sgd_(params, grads, first if momentum else [], weight_decay=decay,
                          momentum=momentum, lr=lr, dampening=0.0, nesterov=False,
                          maximize=False, is_first_step=state.steps == 1)
        return
    fused = torch._fused_adamw_ if kind == "adamw" else torch._fused_adam_
    fused(params, grads, first, second, [], [state.step_count] * len(params), lr=lr,
          beta1=ADAM_BETAS[0], beta2=ADAM_BETAS[1], weight_decay=decay, eps=ADAM_EPS,
          amsgrad=False, maximize=False)


def foreach_update(kind: str, params: list[Tensor], grads: list[Tensor], first: list[Tensor],
                   second: list[Tensor], state: OptimizerState, lr: float | Tensor,
                   decay: float | Tensor, momentum: float) -> None:
    """torch.optim's update rules with foreach kernels; `lr` and `decay` are floats or
    columns with one value per row."""
    count, dtype = len(params), params[0].dtype

    def factors(value: float | Tensor) -> float | list[Tensor]:
        return [value.to(dtype)] * count if isinstance(value, Tensor) else value

    if kind == "adamw":
        torch._foreach_mul_(params, factors(1 - lr * decay))
    elif bool(torch.as_tensor(decay).any()):
        grads = list(torch._foreach_add(grads, torch._foreach_mul(params, factors(decay))))
    base: Sequence[Tensor] = first
    if kind == "sgd":
        if momentum:
            torch._foreach_mul_(first, momentum)
            torch._foreach_add_(first, grads)
        else:
            base = grads
    elif kind == "rmsprop":
        torch._foreach_mul_(first, RMSPROP_ALPHA)
        torch._foreach_addcmul_(first, grads, grads, 1 - RMSPROP_ALPHA)
        base = torch._foreach_div(grads, torch._foreach_add(torch._foreach_sqrt(first),
                                                            RMSPROP_EPS))
        if momentum:
            torch._foreach_mul_(second, momentum)
            torch._foreach_add_(second, base)
            base = second
    else:  # torch's fused adam step of lr -1 on zeros gives the update, scaled below
        base = [torch.zeros_like(p) for p in params]
        torch._fused_adam_(base, grads, first, second, [], [state.step_count] * count, lr=-1.0,
                           beta1=ADAM_BETAS[0], beta2=ADAM_BETAS[1], weight_decay=0.0,
                           eps=ADAM_EPS, amsgrad=False, maximize=False)
    torch._foreach_sub_(params, torch._foreach_mul(list(base), factors(lr)))


def clip_total_norm_(grads: Sequence[Tensor], max_norm: float) -> None:
    """Scale `grads` in place so that their total L2 norm is at most `max_norm`, exactly as
    `torch.nn.utils.clip_grad_norm_` does."""
    total = torch.nn.utils.get_total_norm(list(grads))
    torch._foreach_mul_(list(grads), (max_norm / (total + 1e-6)).clamp(max=1.0))


class DirectOptimizer:
    """One model's optimizer: `step(grads)` updates `params` in place as torch.optim would."""

    def __init__(self, kind: str, params: Sequence[Tensor], lr: float, weight_decay: float,
                 momentum: float = 0.0):
        if not params:
            raise ConfigError("The model has no trainable parameters to optimize (all of them "
                              "have requires_grad=False).")
        self.kind, self.lr, self.decay, self.momentum = kind, lr, weight_decay, momentum
        self.params = [p.detach() for p in params]  # the same storage, updated in place
        self.state = OptimizerState(self.params)
        self.fused = can_fuse(kind, self.params)

    def step(self, grads: Sequence[Tensor], lr: float | None = None) -> None:
        """One update, with the rate `lr` when given (a schedule's) instead of the base rate."""
        self.state.advance()
        update = fused_update if self.fused else foreach_update
        update(self.kind, self.params, list(grads), self.state.first, self.state.second,
               self.state, self.lr if lr is None else lr, self.decay, self.momentum)
