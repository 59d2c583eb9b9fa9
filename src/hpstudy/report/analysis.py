"""Everything the report says about one study, computed once from its records."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from hpstudy.report import configs, stats, tables
from hpstudy.study.records import StudyData


@dataclass
class StudyAnalysis:
    """The numbers of one study's section of the report."""

    study: StudyData
    configs: pd.DataFrame  # configs.config_table
    ablation: bool
    repeats: bool  # some configuration finished with several seeds
    factors: dict[str, pd.DataFrame]  # ablation factor tables (empty for other strategies)
    sensitivity: pd.DataFrame
    reference_sensitivity: pd.DataFrame | None
    trials: pd.DataFrame
    ranked: pd.DataFrame  # finished configurations, best first
    importance: stats.Importance | None  # None for ablations
    candidates: dict[str, dict]


def search_choices(study: StudyData) -> dict[str, list[object]]:
    """Per searched parameter, its values as trained (epochs scaled)."""
    space = study.spec.get("space", {})
    return {k: [tables.scale_value(study, k, v) for v in vs] for k, vs in space.items()}


def importance(study: StudyData) -> stats.Importance:
    """Parameter importance over the study's finished trainings."""
    trials = [
        (r.params, float(r.val_metric))
        for r in configs.study_records(study)
        if r.finished and r.val_metric is not None
    ]
    return stats.param_importance(trials, search_choices(study), study.direction)


def analyze(study: StudyData, tolerance: float = tables.DEFAULT_TOLERANCE) -> StudyAnalysis:
    """The tables, rankings and candidates of one study."""
    frame = configs.config_table(study)
    ablation = study.spec.get("strategy") == "ablation"
    return StudyAnalysis(
        study=study,
        configs=frame,
        ablation=ablation,
        repeats=configs.has_repeats(frame),
        factors=tables.factor_tables(study, frame) if ablation else {},
        sensitivity=tables.sensitivity(study, frame),
        reference_sensitivity=tables.reference_sensitivity(study) if study.reference else None,
        trials=configs.trials_table(study),
        ranked=configs.ranked_configs(study, frame),
        importance=None if ablation else importance(study),
        candidates=tables.final_candidates(study, tolerance),
    )
