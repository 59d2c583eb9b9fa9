"""Beyond the report: the report's final choice against a search's, on the same seeds.

Per built-in task, the reproduction study (`usps-seed`, `houses-seed`) knows the configuration
the report chose, and the beyond study (`usps-beyond`, `houses-beyond`) holds a search whose
final choice is retrained on `final_seeds` seeds and tested once. `baseline_choice` retrains the
report's choice on those same seeds and tests it once, so that the two compare seed by seed. The
baseline is stored with the beyond study (user attribute `baseline`) and is never evaluated
again; it waits, like the final choice, for the beyond study to have its final choice.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from hpstudy.errors import ConfigError
from hpstudy.study.final import plain, report_candidate, tested_on_seeds
from hpstudy.study.reader import read_study
from hpstudy.study.records import StudyData
from hpstudy.study.storage import Store
from hpstudy.tasks import get_task

# Per task: the reproduction preset (the report's study) and the beyond preset (the search).
BEYOND_PRESETS = {"usps": ("usps-seed", "usps-beyond"), "houses": ("houses-seed", "houses-beyond")}

# The report's own numbers for its final configurations (tp1 report, sections 1 and 2).
PUBLISHED = {
    "usps-seed": {"train_metric": 99.98, "val_metric": 98.30, "test_metric": 95.81},
    "houses-seed": {"train_metric": 0.1348, "val_metric": 0.1476, "test_metric": 0.1851},
}


@dataclass
class Comparison:
    """One task's report choice, its reproduction and a search's choice, as stored."""

    task: str
    reproduction: StudyData  # its final choice: the report's configuration, on its own seeds
    beyond: StudyData  # its final choice: the search's, on `final_seeds` seeds
    baseline: dict[str, Any] | None  # the report's choice on the beyond study's seeds
    published: dict[str, float] | None  # the report's own numbers, when it is a preset

    @property
    def ready(self) -> bool:
        return self.beyond.final is not None and self.baseline is not None


def report_choice(reproduction: StudyData) -> dict[str, Any]:
    """The full configuration the report chose, as its reproduction study trains it."""
    candidate = report_candidate(reproduction)
    if candidate is None:
        raise ConfigError(f"Study {reproduction.name!r} is not one of the report's presets "
                          f"({', '.join(name for name, _ in BEYOND_PRESETS.values())}), so it "
                          "has no report choice to compare with.")
    return plain(candidate["params"])


def baseline_choice(store: Store, beyond_name: str, reproduction: StudyData, out_dir: Path, *,
                    data_dir: Path | None = None, device: str = "cpu") -> dict[str, Any] | None:
    """The report's choice retrained on the beyond study's final seeds and tested once: the
    stored one, or one made now. None while the beyond study has no final choice."""
    beyond = read_study(store, beyond_name)
    if beyond.task != reproduction.task:
        raise ConfigError(f"Study {beyond_name!r} is on task {beyond.task!r}, but "
                          f"{reproduction.name!r} is on {reproduction.task!r}.")
    params = report_choice(reproduction)
    seeds = list((beyond.final or {}).get("seeds") or beyond.spec.final_seed_list)
    stored = store.load(beyond_name).user_attrs.get("baseline")
    if stored is not None:
        if stored["params"] != params or stored["seeds"] != seeds:
            raise ConfigError(
                f"Study {beyond_name!r} already holds the report's choice tested on seeds "
                f"{stored['seeds']} with epochs={stored['params'].get('epochs')}; comparing with "
                f"another version of it (seeds {seeds}, epochs={params.get('epochs')}) would "
                "need a second look at the test set (use another --out for another run).")
        return dict(stored)
    if beyond.final is None:
        return None
    tested = tested_on_seeds(get_task(reproduction.task), params, seeds, data_dir, device,
                             out_dir / "baseline-models")
    baseline = {"rule": "report", "study": reproduction.name, **tested,
                "made_at": datetime.now(UTC).isoformat(timespec="seconds")}
    store.retry(lambda: store.load(beyond_name).set_user_attr("baseline", baseline))
    return baseline


def compare(task: str, reproduction: tuple[Store, str], beyond: tuple[Store, str],
            out_dir: Path, *, data_dir: Path | None = None, device: str = "cpu") -> Comparison:
    """The comparison of one task's two studies (each a store and a name), with the baseline
    made now when the beyond study has its final choice and no baseline yet."""
    reproduced = read_study(*reproduction)
    made = baseline_choice(beyond[0], beyond[1], reproduced, out_dir, data_dir=data_dir,
                           device=device)
    return Comparison(task=task, reproduction=reproduced, beyond=read_study(*beyond),
                      baseline=made, published=PUBLISHED.get(reproduced.name))
