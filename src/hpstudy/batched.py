"""Train several MLP trials at once, as one stack of models.

Trainings of an MLP task (one whose `stackable(cfg)` says its model is a `Sequential` of
`Linear` layers and activations, each activation optionally followed by `nn.Dropout`, as
`houses`) that share the task, every hyperparameter but
seed, lr, optimizer, weight_decay and epochs, and the data (the task's `data_key`) train
together (`group_key` says which). Trainings with a schedule, a warm-up, gradient clipping or a
momentum other than their optimizer's default are not stacked: they train solo.

Per layer, weights (models, in, out) and biases (models, 1, out); a layer is `torch.baddbmm`
over the model dimension, and the backward pass calls the kernels autograd would. The loss
gradient comes from autograd on the task's loss of the stacked outputs (the mean of the models'
losses) times the number of models, so each model gets its solo gradient (houses' mse calls
the same kernels directly). Updates follow torch.optim: its fused kernel per block of rows that
share (optimizer, lr, weight_decay) when there are few blocks, else one update with an lr and a
weight-decay column (always for rmsprop, which has no fused kernel).

Each training starts from `task.build_model` after `torch.manual_seed(seed)`, shuffles with its
own `torch.Generator().manual_seed(seed)` (one `randperm` per epoch), draws its dropout noise
from a generator holding torch's state after its initialisation (as a solo training's
`hpstudy.dropout.Dropout` draws it: `dropout_noise`, per layer and step) and follows
`train_at_epochs`: results at each requested epoch, "diverged" on a non-finite training loss or
`chance_patience` epochs at chance level; results equal `train()`'s within float rounding.
Configurations that differ only in `epochs` are one training measured at each of them. A
training leaves the stack after its last requested epoch or when it stops early.
`train_groups` trains stacks of different shapes side by side, one epoch of each in turn, so
that a pruning judge sees all their runs at each epoch.

Time: `train_time_s` is a training's share of the stack's step time. Each epoch's wall time
(gathering the shuffled batches, forward, backward, updates and mean losses of every model) is
divided by the number of models that ran in it; a training sums its shares over its epochs, so
a group's shares add up to its step time. Evaluation after each epoch is not counted, as in
`train()`.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field, replace

import torch
from torch import nn
from torch.nn import functional

from hpstudy.config import Config
from hpstudy.dropout import dropout_noise
from hpstudy.tasks.base import Splits, Task
from hpstudy.train import (
    DEFAULT_CHANCE_PATIENCE,
    PRUNED,
    ChanceWatch,
    Finished,
    Judge,
    TrialResult,
    chance_level,
    measured_result,
    pruned_reason,
    stop_reason,
)
from hpstudy.train_params import momentum_of
from hpstudy.updates import FUSED_OPTIMIZERS, OptimizerState, foreach_update, fused_update

_clock = time.perf_counter  # the step timer (tests replace it)

Tensor = torch.Tensor
Forward = Callable[[Tensor], Tensor]
Backward = Callable[[Tensor, Tensor, Tensor], Tensor]  # (grad of output, input, output)
MAX_FUSED_BLOCKS = 4  # more distinct (lr, weight_decay) pairs: one vectorized update instead


PER_MODEL = ("seed", "lr", "optimizer", "weight_decay", "epochs", "momentum")  # may differ


def group_key(task: Task, cfg: Config) -> Hashable | None:
    """Configs with equal non-None keys can be trained together by train_group; None = not
    vectorizable (e.g. the CNN task, or a schedule: train solo)."""
    if not task.stackable(cfg) or cfg.schedule != "none" or cfg.warmup_epochs or cfg.grad_clip:
        return None
    if type(task).augment is not Task.augment:  # the stack trains on the inputs as they are
        return None
    if cfg.momentum is not None and cfg.momentum != momentum_of(cfg.optimizer, None):
        return None
    shared = tuple((k, v) for k, v in task.params_of(cfg).items() if k not in PER_MODEL)
    return (task.name, task.data_key(cfg), shared)


def activation_functions(module: nn.Module) -> tuple[Forward, Backward] | None:
    """Forward and backward of an elementwise activation module, the backward being the kernel
    autograd uses; None for any other module (subclasses included)."""
    aten = torch.ops.aten
    if type(module) not in (nn.ReLU, nn.Sigmoid, nn.Tanh, nn.LeakyReLU, nn.GELU, nn.ELU, nn.SiLU):
        return None
    if isinstance(module, nn.ReLU):
        return torch.relu, lambda g, z, h: aten.threshold_backward(g, h, 0)
    if isinstance(module, nn.Sigmoid):
        return torch.sigmoid, lambda g, z, h: aten.sigmoid_backward(g, h)
    if isinstance(module, nn.Tanh):
        return torch.tanh, lambda g, z, h: aten.tanh_backward(g, h)
    if isinstance(module, nn.LeakyReLU):
        slope = module.negative_slope
        return (lambda z: functional.leaky_relu(z, slope),
                lambda g, z, h: aten.leaky_relu_backward(g, z, slope, False))
    if isinstance(module, nn.GELU):
        approx = module.approximate
        return (lambda z: functional.gelu(z, approximate=approx),
                lambda g, z, h: aten.gelu_backward(g, z, approximate=approx))
    if isinstance(module, nn.ELU):
        alpha = module.alpha
        return (lambda z: functional.elu(z, alpha),
                lambda g, z, h: aten.elu_backward(g, alpha, 1, 1, False, z))
    return functional.silu, lambda g, z, h: aten.silu_backward(g, z)


@dataclass(frozen=True)
class Mlp:
    """The shape of a Sequential MLP: layer sizes, one activation between layers and the
    dropout probability after each activation (0: none)."""

    sizes: tuple[int, ...]  # input, hidden..., output
    forward: Forward
    backward: Backward
    dropout: float = 0.0


def mlp_of(model: nn.Module) -> tuple[Mlp, list[nn.Linear]]:
    """The shape and the Linear layers of `model`; ValueError unless it is Linear, activation,
    [Dropout,] ..., Linear with one activation type and one dropout probability."""
    modules = list(model.children()) if isinstance(model, nn.Sequential) else []
    dropouts = [m for m in modules if type(m) is nn.Dropout]
    rest = [m for m in modules if type(m) is not nn.Dropout]
    linears = [m for m in rest[0::2] if type(m) is nn.Linear and m.bias is not None]
    functions = [activation_functions(m) for m in rest[1::2]]
    kinds = {repr(m) for m in rest[1::2]}  # one type, with the same settings
    after_activation = all(i > 0 and activation_functions(modules[i - 1]) is not None
                           for i, m in enumerate(modules) if type(m) is nn.Dropout)
    if (len(rest) < 3 or len(rest) % 2 == 0 or len(linears) != len(rest[0::2])
            or len(kinds) != 1 or functions[0] is None
            or (dropouts and (len(dropouts) != len(rest) // 2 or not after_activation
                              or len({m.p for m in dropouts}) != 1))):
        raise ValueError("Only a Sequential of Linear layers with one activation between them "
                         f"(each optionally followed by one Dropout) can be stacked; got "
                         f"{model!r}.")
    sizes = (linears[0].in_features, *(m.out_features for m in linears))
    return Mlp(sizes, *functions[0], dropouts[0].p if dropouts else 0.0), linears


def stacked_parameters(models: Sequence[Sequence[nn.Linear]], device: str) -> list[Tensor]:
    """Per layer, the models' transposed weights (models, in, out), then their biases
    (models, 1, out)."""
    params = []
    for layers in zip(*models, strict=True):
        params.append(torch.stack([layer.weight.detach().t() for layer in layers]))
        params.append(torch.stack([layer.bias.detach()[None] for layer in layers]))
    return [p.to(device).contiguous() for p in params]


def stacked_forward(mlp: Mlp, params: Sequence[Tensor], x: Tensor,
                    masks: Sequence[Tensor] = ()) -> tuple[Tensor, Saved]:
    """Outputs (models, batch, out) of every model, with what the backward pass needs; `masks`
    (training with dropout) scale each hidden layer's activations, as nn.Dropout's noise."""
    saved = Saved([x], [], [], list(masks))
    for i in range(0, len(params) - 2, 2):
        saved.pre.append(torch.baddbmm(params[i + 1], saved.inputs[-1], params[i]))
        saved.activated.append(mlp.forward(saved.pre[-1]))
        layer = i // 2
        saved.inputs.append(saved.activated[-1] * masks[layer] if masks
                            else saved.activated[-1])
    return torch.baddbmm(params[-1], saved.inputs[-1], params[-2]), saved


@dataclass
class Saved:
    """Per layer: its input, and per hidden layer its pre-activation, activation and dropout
    mask (if any)."""

    inputs: list[Tensor]
    pre: list[Tensor]
    activated: list[Tensor]
    masks: list[Tensor]


def stacked_backward(mlp: Mlp, transposed: Sequence[Tensor], grad: Tensor,
                     saved: Saved) -> list[Tensor]:
    """Gradients of the parameters (in their order) from the gradient of the outputs;
    `transposed` holds each layer's weights as (models, out, in)."""
    grads: list[Tensor] = []
    for i in range(len(transposed) - 1, -1, -1):
        grads += [grad.sum(1, keepdim=True), torch.bmm(saved.inputs[i].transpose(1, 2), grad)]
        if i:
            grad = torch.bmm(grad, transposed[i])
            if saved.masks:
                grad = grad * saved.masks[i - 1]
            grad = mlp.backward(grad, saved.pre[i - 1], saved.activated[i - 1])
    return grads[::-1]


def dropout_masks(mlp: Mlp, generators: Sequence[torch.Generator], rows: int,
                  device: torch.device) -> list[Tensor]:
    """One training step's dropout noise for every hidden layer, (models, rows, width): each
    model's drawn from its own generator exactly as a solo training's `hpstudy.dropout.Dropout`
    draws it, so that its numbers equal a solo training's."""
    if not mlp.dropout:
        return []
    masks = []
    for width in mlp.sizes[1:-1]:
        draws = [dropout_noise((rows, width), mlp.dropout, generator)
                 for generator in generators]
        noise = draws[0][None] if len(draws) == 1 else torch.stack(draws)
        masks.append(noise.to(device))
    return masks


@dataclass
class Run:
    """One training of the stack: a config measured at one or more epochs."""

    cfg: Config  # with the largest requested epochs
    wanted: list[int]
    shuffle: torch.Generator
    watch: ChanceWatch
    dropout: torch.Generator = field(default_factory=torch.Generator)  # torch's after init
    curves: dict[str, list[float]] = field(
        default_factory=lambda: {"train_loss": [], "val_loss": [], "val_metric": []})
    results: dict[int, TrialResult] = field(default_factory=dict)
    train_time_s: float = 0.0
    epochs_run: int = 0
    done: bool = False


@dataclass
class Block:
    """Contiguous rows of the stack that one optimizer updates together: with one lr and weight
    decay by torch's fused kernel (floats), or with a column per model (double tensors)."""

    kind: str
    rows: slice
    lr: float | Tensor
    decay: float | Tensor


class Stack:
    """Parameters and optimizer state of the models still training, one row per model; rows
    are ordered by (optimizer, lr, weight_decay) so that each block is contiguous."""

    def __init__(self, mlp: Mlp, params: list[Tensor], cfgs: Sequence[Config]):
        self.mlp, self.params, self.cfgs = mlp, params, list(cfgs)
        self.state = OptimizerState(params)
        self._derive()

    def _derive(self) -> None:
        """Views and blocks that follow the current rows."""
        self.transposed = [weight.transpose(1, 2) for weight in self.params[0::2]]
        self.blocks = [(b, [p[b.rows] for p in self.params],
                        [f[b.rows] for f in self.state.first],
                        [s[b.rows] for s in self.state.second])
                       for b in optimizer_blocks(self.cfgs, self.params[0].device)]

    def keep(self, rows: list[int]) -> None:
        """Drop every model not in `rows`."""
        index = torch.tensor(rows, device=self.params[0].device)
        self.params = [t.index_select(0, index) for t in self.params]
        self.state.keep(index)
        self.cfgs = [self.cfgs[i] for i in rows]
        self._derive()

    def update(self, grads: list[Tensor]) -> None:
        """One optimizer step of every model."""
        self.state.advance()
        for block, params, first, second in self.blocks:
            g = [grad[block.rows] for grad in grads] if len(self.blocks) > 1 else grads
            momentum = momentum_of(block.kind, None)
            if isinstance(block.lr, float) and isinstance(block.decay, float):
                fused_update(block.kind, params, g, first, second, self.state, block.lr,
                             block.decay, momentum)
            else:
                foreach_update(block.kind, params, g, first, second, self.state, block.lr,
                               block.decay, momentum)


def optimizer_blocks(cfgs: Sequence[Config], device: torch.device) -> list[Block]:
    """Per optimizer (rows sorted by optimizer, lr, decay): one fused block per (lr, decay) when
    there are few, else one block with per-row columns."""
    blocks, start = [], 0
    for kind, group in itertools.groupby(cfgs, key=lambda cfg: cfg.optimizer):
        values = [(cfg.lr, cfg.weight_decay) for cfg in group]
        distinct = list(dict.fromkeys(values))
        if kind in FUSED_OPTIMIZERS and len(distinct) <= MAX_FUSED_BLOCKS:
            for lr, decay in distinct:
                first = start + values.index((lr, decay))
                rows = slice(first, first + values.count((lr, decay)))
                blocks.append(Block(kind, rows, lr, decay))
        else:
            columns = torch.tensor(values, dtype=torch.float64, device=device)[:, :, None, None]
            rows = slice(start, start + len(values))
            blocks.append(Block(kind, rows, columns[:, 0], columns[:, 1]))
        start += len(values)
    return blocks


class GroupTraining:
    """The epoch loop of a stack: trains, measures every epoch, records requested epochs and
    drops the trainings that are done."""

    def __init__(self, task: Task, splits: Splits, runs: list[Run], stack: Stack,
                 chance_patience: int):
        self.task, self.splits, self.stack = task, splits, stack
        self.active = list(runs)  # row i of the stack trains active[i]
        self.cfg = runs[0].cfg  # the loss settings all runs share
        self.chance_patience = chance_patience
        self.plain_mse = task.plain_mse(self.cfg)

    def advance(self, epoch: int) -> None:
        """Train one epoch of every run still going and record it."""
        losses = self.train_epoch()
        val_out = self.outputs(self.splits.x_val, self.stack.params)
        for row, run in enumerate(self.active):
            self.record(run, row, epoch, losses[row], val_out[row])

    def going(self) -> list[tuple[int, Run]]:
        return [(row, run) for row, run in enumerate(self.active) if not run.done]

    def prune(self, row: int, run: Run, epoch: int) -> None:
        """Stop a run as pruned: it is measured as it is and leaves the stack with the
        finished ones (the other rows' numbers are untouched)."""
        stopped = self.snapshot(run, row, PRUNED, pruned_reason(epoch))
        run.results |= {e: stopped for e in run.wanted if e not in run.results}
        run.done = True

    def ended(self) -> list[tuple[Config, TrialResult]]:
        """(config, result) of every requested length of the runs that are done."""
        return [(cfg, result_of(self.task, run, cfg)) for run in self.active if run.done
                for cfg in (run.cfg.replace(epochs=epochs) for epochs in run.wanted)]

    def drop_done(self) -> None:
        keep = [row for row, run in enumerate(self.active) if not run.done]
        if len(keep) < len(self.active):
            self.active = [self.active[row] for row in keep]
            if keep:
                self.stack.keep(keep)

    def train_epoch(self) -> list[float]:
        """One pass of every model over its own shuffle of the training split; returns each
        model's mean batch loss."""
        x_all, y_all = self.splits.x_train, self.splits.y_train
        size, stack = self.cfg.batch_size, self.stack
        orders = torch.stack([torch.randperm(len(x_all), generator=run.shuffle)
                              for run in self.active]).to(x_all.device)
        started = _clock()
        x, y = x_all[orders], y_all[orders]
        outputs = x.new_empty(len(self.active), len(x_all), stack.mlp.sizes[-1])
        generators = [run.dropout for run in self.active]
        for start in range(0, len(x_all), size):
            batch = x[:, start : start + size]
            masks = dropout_masks(stack.mlp, generators, batch.shape[1], x.device)
            out, saved = stacked_forward(stack.mlp, stack.params, batch, masks)
            outputs[:, start : start + size] = out
            grad = self.loss_gradient(out, y[:, start : start + size])
            stack.update(stacked_backward(stack.mlp, stack.transposed, grad, saved))
        losses = [float(self.task.loss(run.cfg, outputs[row], y[row]))
                  for row, run in enumerate(self.active)]
        share = (_clock() - started) / len(self.active)
        for run in self.active:
            run.train_time_s += share
            run.epochs_run += 1
        return losses

    def loss_gradient(self, out: Tensor, target: Tensor) -> Tensor:
        """Gradient of the sum of the models' losses with respect to their outputs."""
        if self.plain_mse:  # the kernels of mse_loss's backward, without autograd's overhead
            return torch.sub(out, target).mul_(2.0 / out[0].numel())
        leaf = out.detach().requires_grad_()
        with torch.enable_grad():
            loss = self.task.loss(self.cfg, leaf, target) * len(out)
        (grad,) = torch.autograd.grad(loss, leaf)
        return grad

    def outputs(self, x: Tensor, params: list[Tensor]) -> Tensor:
        """Every model's outputs (models, examples, out) on a whole split."""
        return stacked_forward(self.stack.mlp, params, x.expand(len(params[0]), -1, -1))[0]

    def record(self, run: Run, row: int, epoch: int, train_loss: float, val_out: Tensor) -> None:
        """The epoch's curves, the early-stop rules of `train_at_epochs` and requested results."""
        task, cfg, y_val = self.task, run.cfg, self.splits.y_val
        val_metric = task.metric(cfg, val_out, y_val, self.splits)
        for name, value in (("train_loss", train_loss),
                            ("val_loss", float(task.loss(cfg, val_out, y_val))),
                            ("val_metric", val_metric)):
            run.curves[name].append(value)
        stuck = run.watch.update(task, val_metric, train_loss)
        reason = stop_reason(epoch, train_loss, val_metric, stuck, self.chance_patience)
        if reason:
            stopped = self.snapshot(run, row, "diverged", reason)
            run.results |= {e: stopped for e in run.wanted if e not in run.results}
            run.done = True
        elif epoch in run.wanted:
            run.results[epoch] = self.snapshot(run, row, "ok")
            run.done = epoch == run.wanted[-1]

    def snapshot(self, run: Run, row: int, status: str, reason: str = "") -> TrialResult:
        """Measure one model as it is now on the train and validation splits."""
        task, cfg, splits = self.task, run.cfg, self.splits
        params = [p[row : row + 1] for p in self.stack.params]
        measured = []
        for x, y in ((splits.x_train, splits.y_train), (splits.x_val, splits.y_val)):
            out = self.outputs(x, params)[0]
            measured.append((float(task.loss(cfg, out, y)), task.metric(cfg, out, y, splits), out))
        return measured_result(task, cfg, splits, *measured, status=status, reason=reason,
                               epochs_run=run.epochs_run, train_time_s=run.train_time_s,
                               curves=run.curves)


def side_by_side(trainings: Sequence[GroupTraining], judge: Judge | None,
                 finished: Finished | None = None) -> None:
    """Train stacks until every run is done, one epoch of each in turn; after every epoch
    `judge` is asked once about the runs of all of them, so that configurations reaching an
    epoch together are judged together, then `finished` is told the runs that ended."""
    epoch = 0
    while going := [training for training in trainings if training.active]:
        epoch += 1
        for training in going:
            training.advance(epoch)
        if judge is not None:
            pending = [(training, row, run) for training in going
                       for row, run in training.going()]
            if pending:
                stop = judge(epoch, [(run.cfg, run.curves["val_metric"][-1])
                                     for _, _, run in pending])
                for training, row, run in pending:
                    if run.cfg in stop:
                        training.prune(row, run, epoch)
        if finished is not None:
            if ended := [item for training in going for item in training.ended()]:
                finished(ended)
        for training in going:
            training.drop_done()


def train_group(
    task: Task,
    cfgs: Sequence[Config],
    splits: Splits,
    *,
    device: str = "cpu",
    chance_patience: int = DEFAULT_CHANCE_PATIENCE,
    judge: Judge | None = None,
) -> list[TrialResult]:
    """One TrialResult per cfg, in order, equal (within float tolerance) to
    train(task, cfg, splits); `judge`, after every epoch, names the runs to stop as pruned."""
    if not cfgs:
        return []
    return train_groups(task, [cfgs], splits, device=device, chance_patience=chance_patience,
                        judge=judge)[0]


def train_groups(
    task: Task,
    groups: Sequence[Sequence[Config]],
    splits: Splits,
    *,
    device: str = "cpu",
    chance_patience: int = DEFAULT_CHANCE_PATIENCE,
    judge: Judge | None = None,
    finished: Finished | None = None,
) -> list[list[TrialResult]]:
    """Several stacks trained side by side (`side_by_side`), each group of configs one stack:
    per group, one TrialResult per cfg, in order, as `train_group` gives it; `finished` is
    told each training's (config, result) at the end of the epoch it ended in."""
    moved = splits.to(device)
    trainings, planned = [], []
    for cfgs in groups:
        keys = {group_key(task, cfg) for cfg in cfgs}
        if not cfgs or None in keys or len(keys) > 1:
            raise ValueError(f"These configs cannot be trained as one group (keys: {keys}).")
        runs = plan_runs(task, cfgs, moved, chance_patience)
        trainings.append(GroupTraining(task, moved, list(runs.values()),
                                       build_stack(task, runs, splits, device),
                                       chance_patience))
        planned.append(runs)
    side_by_side(trainings, judge, finished)
    return [[result_of(task, runs[cfg.replace(epochs=0)], cfg) for cfg in cfgs]
            for cfgs, runs in zip(groups, planned, strict=True)]


def result_of(task: Task, run: Run, cfg: Config) -> TrialResult:
    """`run`'s result at `cfg`'s epochs, with `cfg`'s params."""
    return replace(run.results[cfg.epochs], params=task.params_of(cfg))


def plan_runs(task: Task, cfgs: Sequence[Config], splits: Splits,
              chance_patience: int) -> dict[Config, Run]:
    """One run per distinct config apart from epochs (keyed by the config with epochs=0),
    ordered by (optimizer, lr, weight_decay)."""
    wanted: dict[Config, set[int]] = {}
    for cfg in cfgs:
        wanted.setdefault(cfg.replace(epochs=0), set()).add(cfg.epochs)
    runs = {}
    for key in sorted(wanted, key=lambda k: (k.optimizer, k.lr, k.weight_decay)):
        epochs = sorted(wanted[key])
        cfg = key.replace(epochs=epochs[-1])
        chance = chance_level(task, cfg, splits) if chance_patience > 0 else None
        runs[key] = Run(cfg, epochs, torch.Generator().manual_seed(cfg.seed), ChanceWatch(chance))
    return runs


def build_stack(task: Task, runs: dict[Config, Run], splits: Splits, device: str) -> Stack:
    """The stacked initial weights: each model built by the task after seeding torch."""
    models, shapes = [], set()
    for run in runs.values():
        torch.manual_seed(run.cfg.seed)
        mlp, linears = mlp_of(task.build_model(run.cfg, splits))
        run.dropout.set_state(torch.get_rng_state())  # a solo training's dropout draws next
        shapes.add((mlp.sizes, mlp.dropout))
        models.append(linears)
    if len(shapes) != 1:
        raise ValueError(f"The models of one group must have one shape; got {sorted(shapes)}.")
    return Stack(mlp, stacked_parameters(models, device), [run.cfg for run in runs.values()])
