"""Strategies whose configurations an Optuna sampler picks: random, tpe, qmc, gp.

Each open slot gets its own sampler, seeded from the study's seed, the slot's trial number and
the strategy (TPE's first, random draws are not random's), except QMC: the study's seed itself,
so that every slot walks one Sobol sequence. With one worker the same study file and seed give
the same configurations in the same order; with several workers, samplers that learn from
finished trainings (tpe, gp) may see them in another order.
"""

from __future__ import annotations

import zlib
from typing import TYPE_CHECKING, Any

import numpy as np
from optuna.distributions import BaseDistribution
from optuna.samplers import BaseSampler, GPSampler, QMCSampler, RandomSampler, TPESampler

from hpstudy.errors import ConfigError
from hpstudy.study import plans
from hpstudy.study.space import Range
from hpstudy.study.strategies.base import Strategy

if TYPE_CHECKING:
    from hpstudy.study.spec import StudySpec


def slot_seed(seed: int, number: int, strategy: str) -> int:
    """A seed for the slot of trial `number`, derived from the study's seed and the strategy."""
    salt = zlib.crc32(strategy.encode())
    return int(np.random.SeedSequence([seed, number, salt]).generate_state(1)[0])


class Sampled(Strategy):
    finite = False
    needs_space = True
    needs_n_trials = True
    label = ""  # the sampler as `hpstudy status` names it

    def check_range(self, key: str, factor: Range, source: str) -> None:
        if factor.n is not None:
            raise ConfigError(
                f"In {source}: 'space.{key}': strategy {self.name!r} samples the range itself; "
                "'n' (points) is for grid, ablation and coordinate studies.")

    def distributions(self, spec: StudySpec, base: dict[str, Any]) -> dict[str, BaseDistribution]:
        return plans.sampled_distributions(spec)

    def size(self, spec: StudySpec, task_defaults: dict[str, Any]) -> int:
        return (spec.n_trials or 0) * spec.repeats

    def open_slots(self, spec: StudySpec) -> int:
        return spec.n_trials or 0

    def sampler_label(self, spec: StudySpec) -> str:
        return f"sampler: {self.label}, seed {spec.seed}"


class Random(Sampled):
    name = "random"
    help = "independent uniform draws (log-uniform for log ranges)"
    label = "RandomSampler"
    fills_ahead = True

    def sampler(self, seed: int, number: int) -> BaseSampler:
        return RandomSampler(seed=slot_seed(seed, number, self.name))


class TPE(Sampled):
    name = "tpe"
    help = ("Tree-structured Parzen Estimator, multivariate, with a constant liar for "
            "parallel workers")
    label = "TPESampler (multivariate, constant liar)"

    def sampler(self, seed: int, number: int) -> BaseSampler:
        return TPESampler(multivariate=True, constant_liar=True,
                          seed=slot_seed(seed, number, self.name))


class QMC(Sampled):
    name = "qmc"
    help = "a scrambled Sobol sequence: even coverage of the space"
    label = "QMCSampler (scrambled Sobol)"

    def sampler(self, seed: int, number: int) -> BaseSampler:
        return QMCSampler(qmc_type="sobol", scramble=True, seed=seed,
                          warn_independent_sampling=False)


class GP(Sampled):
    name = "gp"
    help = "Gaussian-process Bayesian optimisation (best with few, costly trainings)"
    label = "GPSampler"

    def sampler(self, seed: int, number: int) -> BaseSampler:
        return GPSampler(seed=slot_seed(seed, number, self.name))
