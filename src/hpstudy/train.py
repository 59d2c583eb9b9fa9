"""Train one configuration of a task on in-memory splits.

`train_time_s` counts the optimisation steps only: forward, backward and optimizer updates.
Loading data, building the model and evaluating the splits after each epoch are not included.
"""

from __future__ import annotations

import io
import itertools
import math
import time
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Protocol

import torch
from torch import nn

from hpstudy import schedules
from hpstudy.config import Config
from hpstudy.dropout import fast_dropout
from hpstudy.inference import predict
from hpstudy.tasks.base import Splits, Task
from hpstudy.train_params import momentum_of
from hpstudy.updates import DirectOptimizer, clip_total_norm_

DEFAULT_CHANCE_PATIENCE = 3  # epochs at chance level before a training is stopped as diverged

EpochCallback = Callable[[int, int, float], None]  # (epoch, epochs, val_metric)
# After an epoch, the (config, val_metric) of every training still running -> the configs to
# stop as pruned (a pruning rule; the trainer knows nothing about it).
Judge = Callable[[int, Sequence[tuple[Config, float]]], Collection[Config]]
PRUNED = "pruned"


@dataclass
class TrialResult:
    """What one training produced."""

    params: dict[str, Any]
    status: str  # "ok" or "diverged"
    train_metric: float
    val_metric: float
    train_loss: float
    val_loss: float
    epochs_run: int
    train_time_s: float
    curves: dict[str, list[float]] = field(default_factory=dict)
    extra: dict[str, float] = field(default_factory=dict)
    reason: str = ""  # why a training stopped early

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


MONOTONE_ACTIVATIONS = (nn.ReLU, nn.ReLU6, nn.Sigmoid, nn.Tanh, nn.ELU, nn.LeakyReLU)


def is_monotone(module: nn.Module) -> bool:
    """Whether `module` is an elementwise non-decreasing activation."""
    if type(module) not in MONOTONE_ACTIVATIONS:
        return False
    return all(getattr(module, name, 0.0) >= 0 for name in ("negative_slope", "alpha"))


def pool_before_activation(model: nn.Module) -> nn.Module:
    """`model` with each (monotone activation, max-pool) pair of a Sequential run as (max-pool,
    activation): the same function, since the max of non-decreasing f(x) is f(max x), and the
    same gradients (both route to the window's maximum), on a quarter of the values for 2x2
    pooling. Parameters and their names are unchanged."""
    for child in model.children():
        pool_before_activation(child)
    if isinstance(model, nn.Sequential):
        names = list(model._modules)
        for first, second in itertools.pairwise(names):
            activation, pool = model._modules[first], model._modules[second]
            if activation is not None and is_monotone(activation) and type(pool) is nn.MaxPool2d \
                    and not pool.return_indices:
                model._modules[first], model._modules[second] = pool, activation
    return model


def chance_level(task: Task, cfg: Config, splits: Splits) -> float | None:
    """The validation metric of a constant predictor: the majority class, or the train mean."""
    if task.direction == "maximize" and splits.y_val.dtype == torch.long:
        counts = torch.bincount(splits.y_val)
        return 100.0 * float(counts.max()) / len(splits.y_val)
    if task.direction == "minimize" and splits.y_train.is_floating_point():
        constant = splits.y_train.mean(0, keepdim=True).expand_as(splits.y_val)
        return task.metric(cfg, constant, splits.y_val, splits)
    return None


def at_chance(task: Task, metric: float, chance: float | None) -> bool:
    """Whether `metric` is no better than a constant predictor's (1% margin)."""
    if chance is None:
        return False
    if task.direction == "maximize":
        return metric <= chance + 1.0
    return not metric < 0.99 * chance


@dataclass
class ChanceWatch:
    """Counts the epochs a training spends at chance level while its training loss has also
    stopped falling (by 1%): a dead or exploded model, not a slow starter."""

    chance: float | None
    best_loss: float = math.inf
    stuck: int = 0

    def update(self, task: Task, val_metric: float, train_loss: float) -> int:
        improving = train_loss < 0.99 * self.best_loss
        self.best_loss = min(self.best_loss, train_loss)
        stalled = at_chance(task, val_metric, self.chance) and not improving
        self.stuck = self.stuck + 1 if stalled else 0
        return self.stuck


def stop_reason(epoch: int, train_loss: float, val_metric: float, stuck: int,
                chance_patience: int) -> str:
    """Why a training stops after `epoch` ("" to go on): a non-finite training loss, or
    `chance_patience` epochs (0: never) at chance level."""
    if not math.isfinite(train_loss):
        return f"non-finite training loss at epoch {epoch}"
    if chance_patience and stuck >= chance_patience:
        return f"validation metric at chance level ({val_metric:.4g}) for {stuck} epochs"
    return ""


Measured = tuple[float, float, torch.Tensor]  # a split's loss, metric and outputs


def measured_result(task: Task, cfg: Config, splits: Splits, train: Measured, val: Measured,
                    *, status: str, reason: str, epochs_run: int, train_time_s: float,
                    curves: dict[str, list[float]]) -> TrialResult:
    """The TrialResult of a model measured on the train and validation splits."""
    extra: dict[str, float] = {}
    for name, (_, _, output), target in (("train", train, splits.y_train),
                                         ("val", val, splits.y_val)):
        extra |= {f"{name}_{k}": v
                  for k, v in task.extra_metrics(cfg, output, target, splits).items()}
    return TrialResult(
        params=task.params_of(cfg), status=status, train_metric=train[1], val_metric=val[1],
        train_loss=train[0], val_loss=val[0], epochs_run=epochs_run, train_time_s=train_time_s,
        curves={name: list(values) for name, values in curves.items()}, extra=extra,
        reason=reason)


@torch.no_grad()
def evaluate(
    task: Task, cfg: Config, model: nn.Module, x: torch.Tensor, y: torch.Tensor, splits: Splits
) -> tuple[float, float, torch.Tensor]:
    """Loss and metric of `model` on one split, and its outputs."""
    output = predict(model, x)
    return float(task.loss(cfg, output, y)), task.metric(cfg, output, y, splits), output


def augment_seed(seed: int) -> int:
    """The seed of a training's augmentation draws: fixed by the training seed, and a stream
    apart from its shuffle order."""
    return (seed * 0x9E3779B97F4A7C15 + 0x2545F4914F6CDD1D) % 2**63


class Trainer:
    """One training run; `snapshot` measures it at any epoch."""

    def __init__(self, task: Task, cfg: Config, splits: Splits, device: str = "cpu"):
        self.task, self.cfg = task, cfg
        self.splits = splits.to(device)
        self.memory_format = torch.channels_last if task.channels_last else torch.contiguous_format
        torch.manual_seed(cfg.seed)
        self.model = fast_dropout(pool_before_activation(task.build_model(cfg, splits).to(device)))
        self.model = self.model.to(memory_format=self.memory_format)  # type: ignore[call-overload]
        self.params = [p for p in self.model.parameters() if p.requires_grad]
        self.optimizer = DirectOptimizer(cfg.optimizer, self.params, cfg.lr, cfg.weight_decay,
                                         momentum_of(cfg.optimizer, cfg.momentum))
        steps = schedules.steps_per_epoch(len(self.splits.x_train), cfg.batch_size)
        self.rates = schedules.rates(cfg, steps)  # the rate of every step; None: constant
        self.shuffle = torch.Generator().manual_seed(cfg.seed)
        self.augment_rng = torch.Generator().manual_seed(augment_seed(cfg.seed))
        self.x_train = self.splits.x_train.contiguous(memory_format=self.memory_format)
        self.x_val = self.splits.x_val.contiguous(memory_format=self.memory_format)
        self.curves: dict[str, list[float]] = {"train_loss": [], "val_loss": [], "val_metric": []}
        self.train_time_s = 0.0
        self.epochs_run = 0
        # the validation split's (loss, metric, outputs) for the weights as they are now
        self.val_now: tuple[float, float, torch.Tensor] | None = None

    def run_epoch(self) -> float:
        """One pass over the shuffled training split; returns the mean batch loss."""
        order = torch.randperm(len(self.x_train), generator=self.shuffle).to(self.x_train.device)
        self.val_now = None
        started = time.perf_counter()
        x, y = self.x_train[order], self.splits.y_train[order]
        augmented = self.task.augment(self.cfg, x, self.augment_rng)
        if augmented is not x:
            x = augmented.contiguous(memory_format=self.memory_format)
        total = torch.zeros((), device=x.device)
        size, clip, rates = self.cfg.batch_size, self.cfg.grad_clip, self.rates
        for start in range(0, len(x), size):
            batch_x, batch_y = x[start : start + size], y[start : start + size]
            loss = self.task.loss(self.cfg, self.model(batch_x), batch_y)
            grads = torch.autograd.grad(loss, self.params, materialize_grads=True)
            with torch.no_grad():
                if clip:
                    clip_total_norm_(grads, clip)
                self.optimizer.step(grads, None if rates is None
                                    else rates[self.optimizer.state.steps])
            total += loss.detach() * len(batch_y)
        mean_loss = float(total) / len(x)
        self.train_time_s += time.perf_counter() - started
        self.epochs_run += 1
        val_loss, val_metric, val_out = evaluate(
            self.task, self.cfg, self.model, self.x_val, self.splits.y_val, self.splits
        )
        self.val_now = (val_loss, val_metric, val_out)  # until the next step: for snapshot()
        self.curves["train_loss"].append(mean_loss)
        self.curves["val_loss"].append(val_loss)
        self.curves["val_metric"].append(val_metric)
        return mean_loss

    def pause(self, rng_state: torch.Tensor, watch: ChanceWatch) -> bytes:
        """Everything this training needs to go on elsewhere, between two epochs, as bytes:
        weights and buffers, optimizer state, its random states (`rng_state`: torch's, as
        this training left it), its chance watch and its curves."""
        state = self.optimizer.state
        buffer = io.BytesIO()
        torch.save({"model": self.model.state_dict(), "first": state.first,
                    "second": state.second, "steps": state.steps,
                    "shuffle": self.shuffle.get_state(), "augment": self.augment_rng.get_state(),
                    "rng": rng_state, "watch": [watch.best_loss, watch.stuck],
                    "curves": self.curves, "train_time_s": self.train_time_s,
                    "epochs_run": self.epochs_run}, buffer)
        return buffer.getvalue()

    def resume(self, paused: bytes, watch: ChanceWatch) -> torch.Tensor:
        """Take up a training paused by `pause` (of the same configuration); returns torch's
        random state to train it with."""
        saved = torch.load(io.BytesIO(paused), weights_only=True)
        self.model.load_state_dict(saved["model"])
        state = self.optimizer.state
        with torch.no_grad():
            for mine, theirs in zip(state.first + state.second, saved["first"] + saved["second"],
                                    strict=True):
                mine.copy_(theirs)
        state.steps = saved["steps"]
        state.step_count.fill_(state.steps)
        self.shuffle.set_state(saved["shuffle"])
        self.augment_rng.set_state(saved["augment"])
        watch.best_loss, watch.stuck = saved["watch"]
        self.curves = saved["curves"]
        self.train_time_s, self.epochs_run = saved["train_time_s"], saved["epochs_run"]
        rng: torch.Tensor = saved["rng"]
        return rng

    def snapshot(self, status: str, reason: str = "") -> TrialResult:
        """Measure the model as it is now on the train and validation splits."""
        task, cfg, splits = self.task, self.cfg, self.splits
        train = evaluate(task, cfg, self.model, self.x_train, splits.y_train, splits)
        val = self.val_now or evaluate(task, cfg, self.model, self.x_val, splits.y_val, splits)
        return measured_result(task, cfg, splits, train, val, status=status, reason=reason,
                               epochs_run=self.epochs_run, train_time_s=self.train_time_s,
                               curves=self.curves)


def train_at_epochs(
    task: Task,
    cfg: Config,
    splits: Splits,
    epochs: Iterable[int],
    *,
    device: str = "cpu",
    chance_patience: int = DEFAULT_CHANCE_PATIENCE,
    on_epoch: EpochCallback | None = None,
) -> dict[int, TrialResult]:
    """Train once up to the largest of `epochs` and measure the model at each of them.

    A result for epoch `e` equals that of a training of `cfg` with `epochs=e`: same seed, same
    shuffle order, same steps (so `cfg`'s schedule must not depend on the length: see
    `schedules.depends_on_length`). A non-finite loss, or `chance_patience` epochs (0: never)
    at chance level, stops the run; every epoch not reached then gets the stopped result.
    """
    wanted = sorted(set(epochs))
    if schedules.depends_on_length(cfg) and wanted != [cfg.epochs]:
        raise ValueError(f"A {cfg.schedule!r} schedule over {cfg.epochs} epochs cannot be "
                         f"measured at epochs {wanted}.")
    trainer = Trainer(task, cfg, splits, device)
    watch = ChanceWatch(chance_level(task, cfg, trainer.splits) if chance_patience > 0 else None)
    results: dict[int, TrialResult] = {}
    for epoch in range(1, wanted[-1] + 1):
        mean_loss = trainer.run_epoch()
        val_metric = trainer.curves["val_metric"][-1]
        if on_epoch is not None:
            on_epoch(epoch, wanted[-1], val_metric)
        stuck = watch.update(task, val_metric, mean_loss)
        reason = stop_reason(epoch, mean_loss, val_metric, stuck, chance_patience)
        if reason:
            stopped = trainer.snapshot("diverged", reason)
            missing = [e for e in wanted if e not in results]
            return results | {e: _at_epochs(task, cfg, stopped, e) for e in missing}
        if epoch in wanted:
            results[epoch] = _at_epochs(task, cfg, trainer.snapshot("ok"), epoch)
    return results


def _at_epochs(task: Task, cfg: Config, result: TrialResult, epochs: int) -> TrialResult:
    """`result` labelled as the training of `cfg` with `epochs` epochs."""
    return replace(result, params=task.params_of(cfg.replace(epochs=epochs)))


def train(
    task: Task,
    cfg: Config,
    splits: Splits,
    *,
    device: str = "cpu",
    chance_patience: int = DEFAULT_CHANCE_PATIENCE,
    on_epoch: EpochCallback | None = None,
) -> TrialResult:
    """Train `cfg` for `cfg.epochs` epochs and return its result."""
    results = train_at_epochs(
        task, cfg, splits, [cfg.epochs], device=device,
        chance_patience=chance_patience, on_epoch=on_epoch,
    )
    return results[cfg.epochs]


def pruned_reason(epoch: int) -> str:
    return f"pruned at epoch {epoch}"


# Told, at the end of an epoch, the (config, result) of every training that ended in it
# (finished, pruned or diverged), so that it can be stored before the others end.
Finished = Callable[[Sequence[tuple[Config, TrialResult]]], None]


@dataclass(frozen=True)
class Paused:
    """A training paused between two epochs to go on in another process (`Trainer.pause`)."""

    cfg: Config
    state: bytes
    epochs_run: int


class HandOver(Protocol):
    """Where `train_together` can send some of its trainings, to go on in another process."""

    def choose(self, running: Sequence[tuple[Config, float]]) -> Collection[Config]:
        """Given the running trainings (configuration, seconds per epoch so far), the ones to
        send now (none: keep them all)."""

    def send(self, paused: Sequence[Paused]) -> None:
        """Take the chosen trainings, paused after the same epoch."""


def train_together(
    task: Task,
    cfgs: Sequence[Config],
    splits: Splits,
    judge: Judge,
    *,
    device: str = "cpu",
    chance_patience: int = DEFAULT_CHANCE_PATIENCE,
    finished: Finished | None = None,
    resumed: Sequence[bytes] | None = None,
    hand_over: HandOver | None = None,
) -> list[TrialResult | None]:
    """Train `cfgs` side by side, one epoch of each in turn, asking `judge` after every epoch
    which to stop as pruned (and telling `finished` which ended). Each training keeps its own
    torch random state, so its results equal `train()`'s.

    `resumed` (one per configuration) takes up trainings paused after the same epoch, in this
    process or another. After each epoch, `hand_over` may take some of the running trainings,
    paused; their results are None here, and equal `train()`'s where they go on."""
    trainers, states = [], []
    for cfg in cfgs:
        trainers.append(Trainer(task, cfg, splits, device))
        states.append(torch.get_rng_state())
    watches = [ChanceWatch(chance_level(task, cfg, t.splits) if chance_patience > 0 else None)
               for cfg, t in zip(cfgs, trainers, strict=True)]
    for i, paused in enumerate(resumed or []):
        states[i] = trainers[i].resume(paused, watches[i])
    done = {t.epochs_run for t in trainers}
    if len(done) != 1:
        raise ValueError(f"Trainings paused after different epochs ({sorted(done)}) cannot go "
                         "on side by side.")
    results: dict[int, TrialResult] = {}
    gone: set[int] = set()  # handed over
    for epoch in range(done.pop() + 1, max(cfg.epochs for cfg in cfgs) + 1):
        before = set(results)
        for i, trainer in enumerate(trainers):
            if i in results or i in gone:
                continue
            torch.set_rng_state(states[i])
            mean_loss = trainer.run_epoch()
            states[i] = torch.get_rng_state()
            val_metric = trainer.curves["val_metric"][-1]
            reason = stop_reason(epoch, mean_loss, val_metric,
                                 watches[i].update(task, val_metric, mean_loss), chance_patience)
            if reason:
                results[i] = trainer.snapshot("diverged", reason)
            elif epoch == cfgs[i].epochs:
                results[i] = trainer.snapshot("ok")
        running = [i for i in range(len(cfgs)) if i not in results and i not in gone]
        if running:
            stop = judge(epoch, [(cfgs[i], trainers[i].curves["val_metric"][-1])
                                 for i in running])
            for i in running:
                if cfgs[i] in stop:
                    results[i] = trainers[i].snapshot(PRUNED, pruned_reason(epoch))
        ended = sorted(set(results) - before)
        if finished is not None and ended:
            finished([(cfgs[i], results[i]) for i in ended])
        running = [i for i in running if i not in results]
        if hand_over is not None and running:
            leaving = hand_over.choose([(cfgs[i], trainers[i].train_time_s / epoch)
                                        for i in running])
            sent = [i for i in running if cfgs[i] in leaving]
            if sent:
                hand_over.send([Paused(cfgs[i], trainers[i].pause(states[i], watches[i]),
                                       epoch) for i in sent])
                gone.update(sent)
        if len(results) + len(gone) == len(cfgs):
            break
    return [results.get(i) for i in range(len(cfgs))]


def resolve_device(name: str) -> str:
    """`auto` picks CUDA when present; otherwise the name as given."""
    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return name
