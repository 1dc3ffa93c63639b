"""What a replay runs when it is given a schedule file: the file's schedule, which must agree
with the seed and scenario given beside it, if any."""

from __future__ import annotations

from typing import Literal

from mfm_sim.run.schedule import Schedule, ScheduleError

__all__ = ["Part", "TargetError", "schedule_for"]

Part = Literal["schedule", "seed", "scenario"]


class TargetError(ValueError):
    """The schedule file cannot be read, or disagrees with the seed or scenario given."""

    def __init__(self, part: Part, message: str) -> None:
        super().__init__(message)
        self.part = part  # which of the three inputs is at fault


def schedule_for(path: str, seed: int | None, scenario: str | None) -> Schedule:
    """The schedule in `path`, checked against the `seed` and `scenario` given beside it."""
    try:
        schedule = Schedule.load(path)
    except ScheduleError as exc:
        msg = str(exc)
        raise TargetError("schedule", msg if path in msg else f"{path}: {msg}") from None
    if seed is not None and seed != schedule.seed:
        raise TargetError("seed", f"{seed} contradicts the schedule file's seed {schedule.seed}")
    if scenario is not None and scenario != schedule.scenario:
        raise TargetError(
            "scenario",
            f"{scenario!r} contradicts the schedule file's scenario {schedule.scenario!r}",
        )
    return schedule
