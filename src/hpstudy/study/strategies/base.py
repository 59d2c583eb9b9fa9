"""What every strategy is: the small interface the runner, workers and reports call.

A strategy validates its part of the spec, plans fixed trainings or opens slots for a sampler,
proposes the next round (coordinate), names its final-choice candidates and the report sections
it adds. Nothing outside the strategy modules branches on a strategy's name.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from optuna.distributions import BaseDistribution
from optuna.samplers import BaseSampler

from hpstudy.errors import ConfigError
from hpstudy.study import selection
from hpstudy.study.plans import Planned
from hpstudy.study.records import StudyData, TrainingRecord
from hpstudy.study.space import Range

if TYPE_CHECKING:
    from hpstudy.study.spec import StudySpec

# Report sections a strategy can ask for (the report knows how to write each).
FACTOR_TABLES = "factor_tables"  # one table and figure per factor, around the default
TRIALS = "trials"  # every training
BEST = "best"  # the best configurations
IMPORTANCE = "importance"  # fANOVA parameter importance
FACTOR_SCATTER = "factor_scatter"  # val metric against each factor, one point per training
SEARCH_SECTIONS = (TRIALS, BEST, IMPORTANCE, FACTOR_SCATTER)

# A round's outcome: user attributes to store with the study, and the trainings to queue.
Round = tuple[dict[str, Any], list[Planned]]


class Strategy:
    """The defaults of every strategy; subclasses set the class attributes and override."""

    name: ClassVar[str]
    help: ClassVar[str]  # one line for the docs and `hpstudy presets`
    finite: ClassVar[bool] = True  # tries finite values: a range must give `n` points
    needs_space: ClassVar[bool] = False
    needs_n_trials: ClassVar[bool] = False
    report_sections: ClassVar[tuple[str, ...]] = SEARCH_SECTIONS
    state_keys: ClassVar[tuple[str, ...]] = ()  # user attributes its rounds keep
    refuses_pruning: ClassVar[str] = ""  # why the strategy cannot prune ("": it can)
    # its sampler can fill many slots before any training ends (random draws); tpe and gp
    # learn from finished trainings, qmc needs one to fix its search space
    fills_ahead: ClassVar[bool] = False

    @property
    def samples(self) -> bool:
        """Whether a sampler picks this strategy's configurations."""
        return not self.finite

    def check(self, spec: StudySpec, source: str) -> None:
        """The strategy's part of the spec's structure; raises ConfigError with one line."""
        if self.needs_space and not spec.space:
            raise ConfigError(f"In {source}: strategy {self.name!r} needs a [space].")
        if self.needs_n_trials and spec.n_trials is None:
            raise ConfigError(f"In {source}: strategy {self.name!r} needs 'budget.n_trials'.")
        for key, factor in spec.space.items():
            if isinstance(factor, Range):
                self.check_range(key, factor, source)
        if spec.prunes and self.refuses_pruning:
            raise ConfigError(f"In {source}: strategy {self.name!r} cannot prune: "
                              f"{self.refuses_pruning}. Remove [pruning] or use pruner = "
                              "\"none\".")

    def check_range(self, key: str, factor: Range, source: str) -> None:
        if self.finite and factor.n is None:
            raise ConfigError(
                f"In {source}: 'space.{key}': strategy {self.name!r} tries finite values; give "
                "the range 'n' (points between low and high) or give a list of values.")

    def distributions(self, spec: StudySpec, base: dict[str, Any]) -> dict[str, BaseDistribution]:
        """Per factor, the Optuna distribution its values come from (stored with the study)."""
        raise NotImplementedError

    def plan(self, spec: StudySpec, task_defaults: dict[str, Any]) -> list[Planned]:
        """The trainings known before any has run."""
        return []

    def size(self, spec: StudySpec, task_defaults: dict[str, Any]) -> int:
        """How many trainings the study asks for (first round), counted without listing them
        (`repeats` or `n_trials` may be huge)."""
        raise NotImplementedError

    def open_slots(self, spec: StudySpec) -> int:
        """Configurations a sampler picks when a worker takes them."""
        return 0

    def sampler(self, seed: int, number: int) -> BaseSampler | None:
        """The sampler that fills the open slot of trial `number`."""
        return None

    def sampler_label(self, spec: StudySpec) -> str:
        return "fixed plan, no sampler"

    def start_attrs(self, base: dict[str, Any]) -> dict[str, Any]:
        """User attributes a new study of this strategy starts with."""
        return {}

    def next_round(self, spec: StudySpec, attrs: dict[str, Any],
                   records: Sequence[TrainingRecord], maximize: bool) -> Round | None:
        """The next round once the queue is empty (None: the study is done); `attrs` holds
        at least the study's `state_keys`."""
        return None

    def combined(self, data: StudyData) -> dict[str, Any] | None:
        """The configuration the `combine` rule trains (None: this strategy has none)."""
        return None

    def candidates(self, data: StudyData, tolerance: float) -> dict[str, dict[str, Any]]:
        """The final-choice candidates, by rule."""
        return selection.final_candidates(data, tolerance)
