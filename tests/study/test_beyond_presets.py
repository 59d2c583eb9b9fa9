"""The beyond presets and `final_seeds`: a search of at most 60 trainings, a fixed sampler
seed, and a final choice retrained on 5 seeds."""

from __future__ import annotations

import json

import pytest

from hpstudy.cli import main
from hpstudy.errors import ConfigError
from hpstudy.study.spec import load_spec, parse_spec, validate_for_task
from hpstudy.tasks import get_task


@pytest.mark.parametrize("name", ["usps-beyond", "houses-beyond"])
def test_beyond_presets_are_searches_within_budget(name: str) -> None:
    """Each is a seeded search over the new knobs of at most 60 trainings, final on 5 seeds,
    valid for its task."""
    spec = load_spec(name)
    validate_for_task(spec, get_task(spec.task))
    assert spec.n_trials is not None and spec.n_trials * spec.repeats <= 60
    assert spec.final_seed_list == [0, 1, 2, 3, 4] and spec.seed == 0
    assert "dropout" in spec.space and "lr" in spec.space
    assert "schedule" in spec.space or spec.defaults["schedule"] != "none"


def test_final_seeds_defaults_to_the_study_seeds_and_is_checked() -> None:
    base = {"name": "s", "task": "houses", "repeats": 2, "space": {"lr": [0.01]}}
    assert parse_spec(base).final_seed_list == [0, 1]
    assert parse_spec(base | {"final_seeds": 3}).final_seed_list == [0, 1, 2]
    for bad in (0, 1.5, True, "5"):
        with pytest.raises(ConfigError, match="'final_seeds' must be an int >= 1"):
            parse_spec(base | {"final_seeds": bad})


def test_final_choice_is_retrained_on_final_seeds(tmp_path) -> None:
    """A one-seed study with final_seeds = 3 retrains and tests its choice on seeds 0, 1, 2."""
    spec = tmp_path / "s.toml"
    spec.write_text('name = "h3"\ntask = "houses"\nfinal_seeds = 3\n[defaults]\nepochs = 2\n'
                    'width = 4\n[space]\nlr = [0.001, 0.01]\n')
    out = tmp_path / "out"
    assert main(["run", str(spec), "--out", str(out), "--quiet", "--jobs", "1"]) == 0
    assert main(["report", str(out), "--format", "md"]) == 0
    final = json.loads((out / "final.json").read_text())
    assert final["seeds"] == [0, 1, 2] and len(final["test_metrics"]) == 3
    assert sorted(p.name for p in (out / "models").iterdir()) == [
        "seed0.pt", "seed1.pt", "seed2.pt"]
