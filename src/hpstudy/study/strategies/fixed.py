"""Strategies with a fixed plan: ablation, grid, and coordinate (rounds of ablation)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from optuna.distributions import BaseDistribution

from hpstudy.study import plans, selection
from hpstudy.study.plans import Planned
from hpstudy.study.records import StudyData, TrainingRecord
from hpstudy.study.strategies.base import FACTOR_TABLES, Round, Strategy

if TYPE_CHECKING:
    from hpstudy.study.spec import StudySpec


class Fixed(Strategy):
    """Finite values, every training known up front."""

    def distributions(self, spec: StudySpec, base: dict[str, Any]) -> dict[str, BaseDistribution]:
        return plans.finite_distributions(spec, base)

    def configs(self, base: dict[str, Any], values: dict[str, list[Any]]) -> list[dict[str, Any]]:
        return plans.ablation_configs(base, values)

    def plan(self, spec: StudySpec, task_defaults: dict[str, Any]) -> list[Planned]:
        base = plans.baseline(spec, task_defaults)
        return plans.with_seeds(self.configs(base, plans.factor_values(spec, base)), spec.repeats)

    def size(self, spec: StudySpec, task_defaults: dict[str, Any]) -> int:
        base = plans.baseline(spec, task_defaults)
        return len(self.configs(base, plans.factor_values(spec, base))) * spec.repeats


class Ablation(Fixed):
    name = "ablation"
    help = ("the default once per seed, shared by every factor, then each factor's other "
            "values one at a time")
    report_sections: ClassVar[tuple[str, ...]] = (FACTOR_TABLES,)
    refuses_pruning = ("its per-factor tables compare every value over all its seeds and "
                       "epochs, so every row must be trained in full")

    def combined(self, data: StudyData) -> dict[str, Any] | None:
        return selection.combine_params(data)

    def candidates(self, data: StudyData, tolerance: float) -> dict[str, dict[str, Any]]:
        picks = selection.final_candidates(data, tolerance)
        combined = self.combined(data)
        if picks and combined is not None:
            picks["combine"] = selection.combine_candidate(data, combined)
        return picks


class Grid(Fixed):
    name = "grid"
    help = "every combination of the factors' values"
    needs_space = True

    def configs(self, base: dict[str, Any], values: dict[str, list[Any]]) -> list[dict[str, Any]]:
        return plans.grid_configs(base, values)

    def size(self, spec: StudySpec, task_defaults: dict[str, Any]) -> int:
        count = spec.repeats
        for choices in plans.factor_values(spec, plans.baseline(spec, task_defaults)).values():
            count *= len(choices)
        return count


class Coordinate(Fixed):
    name = "coordinate"
    help = ("rounds of ablation; each round moves the baseline to the best value found for "
            "every factor, until a round changes nothing or the budget ends")
    state_keys: ClassVar[tuple[str, ...]] = ("coordinate_bases",)
    refuses_pruning = ("each round moves the baseline by comparing every value trained in "
                       "full, so every row must be trained in full")

    def start_attrs(self, base: dict[str, Any]) -> dict[str, Any]:
        return {"coordinate_bases": [base]}

    def next_round(self, spec: StudySpec, attrs: dict[str, Any],
                   records: Sequence[TrainingRecord], maximize: bool) -> Round | None:
        if spec.n_trials is not None and len({r.config_id for r in records}) >= spec.n_trials:
            return None
        bases = attrs.get("coordinate_bases") or []
        if not bases:
            return None
        step = plans.next_coordinate_round(spec, bases, records, maximize)
        if step is None:
            return None
        new_base, planned = step
        return {"coordinate_bases": [*bases, new_base]}, planned
