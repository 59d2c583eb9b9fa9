"""How far a study has come, and whether its final choice may be made.

A study is finished when no training is waiting or running and none is still to be queued: the
other seeds of a sampled configuration the sampler has not drawn yet, or the next round of a
coordinate study. The final choice waits for that; `since_choice` tells what finished after a
choice that was made earlier (forced mid-study, or a study that was resumed).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from hpstudy.study.reader import latest_attempts
from hpstudy.study.records import FAILED, RUNNING, WAITING, StudyData
from hpstudy.study.strategies import get_strategy


@dataclass(frozen=True)
class Progress:
    """The study's trainings by state (one per configuration and seed, latest attempt)."""

    finished: int  # complete, diverged or pruned: nothing left to train
    failed: int  # failed for good: not queued again
    waiting: int
    running: int
    upcoming: int  # not queued yet (a sampled slot's other seeds, the next coordinate round)

    @property
    def total(self) -> int:
        return self.finished + self.failed + self.remaining

    @property
    def remaining(self) -> int:
        return self.waiting + self.running + self.upcoming

    @property
    def done(self) -> bool:
        return self.remaining == 0

    def describe(self) -> str:
        """E.g. '6 of 21 trainings remain (4 waiting, 2 running)'."""
        parts = [f"{n} {what}" for n, what in ((self.waiting, "waiting"),
                                               (self.running, "running"),
                                               (self.upcoming, "not queued yet")) if n]
        return f"{self.remaining} of {self.total} trainings remain ({', '.join(parts)})"

    def to_dict(self) -> dict[str, int]:
        return {"finished": self.finished, "failed": self.failed, "waiting": self.waiting,
                "running": self.running, "upcoming": self.upcoming, "remaining": self.remaining,
                "total": self.total}


def study_progress(data: StudyData) -> Progress:
    """The progress of a study as stored."""
    current = [r for r in latest_attempts(data.records) if r.role == "study"]
    states = [r.status for r in current]
    unsampled = sum(r.status == WAITING and not r.config_id for r in current)
    upcoming = unsampled * (data.spec.repeats - 1)
    waiting, running = states.count(WAITING), states.count(RUNNING)
    if not waiting + running:  # the round the strategy would queue next (coordinate)
        step = get_strategy(data.spec.strategy).next_round(
            data.spec, data.rounds, data.records, data.direction == "maximize")
        upcoming += 0 if step is None else len(step[1])
    return Progress(finished=sum(r.done for r in current), failed=states.count(FAILED),
                    waiting=waiting, running=running, upcoming=upcoming)


@dataclass(frozen=True)
class SinceChoice:
    """Trainings that finished after the final choice was made, and what they change."""

    added: int  # trainings finished since the choice
    rule: str
    current: dict[str, Any] | None  # the rule's candidate now (None: the rule has none)
    differs: bool | None  # the rule now picks another configuration (None: cannot tell)

    def describe(self) -> str:
        text = f"{self.added} training(s) finished after the final choice; rule {self.rule!r}"
        if self.differs is None:
            return f"{text} does not depend on them"
        return f"{text} now picks {'another' if self.differs else 'the same'} configuration"


def since_choice(final: dict[str, Any], progress: Progress,
                 candidates: dict[str, dict[str, Any]]) -> SinceChoice | None:
    """What finished after `final` was chosen, with `candidates` the rules' picks now; None
    when nothing did (or it is not known: a choice stored without the study's progress)."""
    made_on = final.get("made_on") or {}
    if "finished" not in made_on or progress.finished <= int(made_on["finished"]):
        return None
    rule = str(final.get("rule", ""))
    current = candidates.get(rule) if rule != "report" else None
    differs = None if current is None else \
        dict(current.get("params") or {}) != dict(final.get("params") or {})
    return SinceChoice(progress.finished - int(made_on["finished"]), rule, current, differs)


def describe_choice(final: dict[str, Any]) -> str:
    """E.g. "rule 'best', made 2025-06-01 14:02 UTC on the finished study (21 trainings)"."""
    text = f"rule {final.get('rule')!r}"
    if final.get("rule") == "fast" and final.get("tolerance") is not None:
        text += f" (tolerance {float(final['tolerance']):g})"
    made_at = final.get("made_at")
    if made_at:
        moment = datetime.fromisoformat(made_at).astimezone(UTC)
        text += f", made {moment:%Y-%m-%d %H:%M} UTC"
    made_on = final.get("made_on") or {}
    if "finished" in made_on:
        text += (f" on {made_on['finished']} of {made_on['total']} trainings"
                 if made_on.get("remaining")
                 else f" on the finished study ({made_on['finished']} trainings)")
    return text
