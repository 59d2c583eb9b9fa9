"""What a stored study looks like to its readers (status, trials listing, reports).

One training (a configuration and a seed) is one record. Readers get plain data; only
`storage.py` knows how records map onto Optuna's trials.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from hpstudy.study.spec import StudySpec

# Training statuses as hpstudy names them.
COMPLETE, DIVERGED, PRUNED, FAILED, RUNNING, WAITING = (
    "complete",
    "diverged",
    "pruned",  # stopped early by the study's pruning rule: a result, never a final choice
    "failed",
    "running",
    "waiting",
)
STATUSES = (COMPLETE, DIVERGED, PRUNED, FAILED, RUNNING, WAITING)


@dataclass
class TrainingRecord:
    """One training as stored."""

    number: int  # Optuna trial number (unique within the study)
    status: str  # one of STATUSES
    params: dict[str, Any]  # the full configuration, seed excluded
    seed: int
    config_id: str  # identifies `params` (equal params, equal id)
    train_metric: float | None = None
    val_metric: float | None = None
    train_loss: float | None = None
    val_loss: float | None = None
    train_time_s: float | None = None
    epochs_run: int | None = None
    curves: dict[str, list[float]] = field(default_factory=dict)  # train_loss, val_loss, val_metric
    extra: dict[str, float] = field(default_factory=dict)  # e.g. val_rmse_dollars
    error: str = ""  # failure message, or why a diverged training stopped
    env: dict[str, Any] = field(default_factory=dict)  # versions, device, threads, host
    role: str = "study"  # "study" (planned or sampled) or "duplicate" (a slot not trained)
    group_size: int = 1  # trainings that shared one vectorized run (time is the share)

    @property
    def finished(self) -> bool:
        """Trained to its end (or until it diverged): what tables and final choices read."""
        return self.status in (COMPLETE, DIVERGED)

    @property
    def done(self) -> bool:
        """Nothing left to train: finished or pruned."""
        return self.finished or self.status == PRUNED

    @property
    def stopped_at(self) -> int | None:
        """The epoch a pruned training stopped at."""
        return self.epochs_run if self.status == PRUNED else None


@dataclass
class StudyData:
    """A study as the report sees it."""

    name: str
    spec: StudySpec  # the study file as validated (never holds secrets)
    task: str
    direction: str  # "maximize" or "minimize"
    metric_name: str  # e.g. "accuracy (%)", "MSE"
    defaults: dict[str, Any]  # the full baseline configuration, seed excluded
    records: list[TrainingRecord]
    final: dict[str, Any] | None = None  # the final choice and its single test evaluation
    reference: list[dict[str, Any]] | None = (
        None  # reference rows (factor, value, train, val, time)
    )
    rounds: dict[str, Any] = field(default_factory=dict)  # the strategy's own attributes
    #                       (a coordinate study's round baselines so far)
