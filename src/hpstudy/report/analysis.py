"""Everything the report says about one study, computed once from its records."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
from optuna.distributions import BaseDistribution

from hpstudy.report import stats, tables
from hpstudy.study import configs
from hpstudy.study.records import StudyData
from hpstudy.study.selection import DEFAULT_TOLERANCE
from hpstudy.study.strategies import Strategy, get_strategy
from hpstudy.study.strategies.base import FACTOR_TABLES, IMPORTANCE


@dataclass
class StudyAnalysis:
    """The numbers of one study's section of the report."""

    study: StudyData
    strategy: Strategy
    space: dict[str, BaseDistribution]  # per factor, the distribution its values came from
    configs: pd.DataFrame  # configs.config_table
    ablation: bool  # factors varied one at a time around the default (factor tables)
    repeats: bool  # some configuration finished with several seeds
    factors: dict[str, pd.DataFrame]  # ablation factor tables (empty for other strategies)
    sensitivity: pd.DataFrame
    reference_sensitivity: pd.DataFrame | None
    trials: pd.DataFrame
    ranked: pd.DataFrame  # finished configurations, best first
    importance: stats.Importance | None  # None where the strategy shows none
    candidates: dict[str, dict]


def study_space(study: StudyData) -> dict[str, BaseDistribution]:
    """Per searched parameter, the distribution of its values as trained (epochs scaled)."""
    return get_strategy(study.spec.strategy).distributions(study.spec, study.defaults)


def importance(study: StudyData, space: dict[str, BaseDistribution]) -> stats.Importance:
    """Parameter importance over the study's finished trainings."""
    trials = [
        (r.params, float(r.val_metric))
        for r in configs.study_records(study)
        if r.finished and r.val_metric is not None
    ]
    return stats.param_importance(trials, space, study.direction)


def analyze(study: StudyData, tolerance: float = DEFAULT_TOLERANCE) -> StudyAnalysis:
    """The tables, rankings and candidates of one study."""
    strategy = get_strategy(study.spec.strategy)
    space = study_space(study)
    frame = configs.config_table(study)
    ablation = FACTOR_TABLES in strategy.report_sections
    factors = tables.factor_tables(study, frame) if ablation else {}
    return StudyAnalysis(
        study=study,
        strategy=strategy,
        space=space,
        configs=frame,
        ablation=ablation,
        repeats=configs.has_repeats(frame),
        factors=factors,
        sensitivity=tables.sensitivity(study, factors if ablation else None, space),
        reference_sensitivity=tables.reference_sensitivity(study) if study.reference else None,
        trials=configs.trials_table(study),
        ranked=configs.ranked_configs(study, frame),
        importance=importance(study, space) if IMPORTANCE in strategy.report_sections else None,
        candidates=strategy.candidates(study, tolerance),
    )
