"""What a replay runs when it is given a schedule file: the file's schedule, which must agree
with the seed and scenario given beside it, if any, under the engine variant the file
recorded unless `--engine-variant` names one."""

from __future__ import annotations

from typing import Literal

import attrs

from mfm_sim.run.schedule import Schedule, ScheduleError, ScheduleFile

__all__ = ["REAL_ENGINE", "Part", "Target", "TargetError", "schedule_for", "target_for"]

Part = Literal["schedule", "seed", "scenario"]
REAL_ENGINE = "real"  # `--engine-variant real`: the real engine, whatever the file recorded


class TargetError(ValueError):
    """The schedule file cannot be read, or disagrees with the seed or scenario given."""

    def __init__(self, part: Part, message: str) -> None:
        super().__init__(message)
        self.part = part  # which of the three inputs is at fault


@attrs.frozen
class Target:
    """The file, and the variant to replay it under (None: the real engine)."""

    file: ScheduleFile
    variant: str | None

    @property
    def overridden(self) -> bool:
        """True when the variant given is not the one the file recorded."""
        return self.variant != self.file.variant


def target_for(
    path: str, seed: int | None, scenario: str | None, variant: str | None = None
) -> Target:
    """The schedule file in `path`, checked against the `seed` and `scenario` given beside it;
    `variant` is the `--engine-variant` given (None: the file's; `REAL_ENGINE`: none)."""
    try:
        file = ScheduleFile.load(path)
    except ScheduleError as exc:
        msg = str(exc)
        raise TargetError("schedule", msg if path in msg else f"{path}: {msg}") from None
    schedule = file.schedule
    if seed is not None and seed != schedule.seed:
        raise TargetError("seed", f"{seed} contradicts the schedule file's seed {schedule.seed}")
    if scenario is not None and scenario != schedule.scenario:
        raise TargetError(
            "scenario",
            f"{scenario!r} contradicts the schedule file's scenario {schedule.scenario!r}",
        )
    if variant is None:
        return Target(file, file.variant)
    return Target(file, None if variant == REAL_ENGINE else variant)


def schedule_for(path: str, seed: int | None, scenario: str | None) -> Schedule:
    """The schedule in `path`, checked against the `seed` and `scenario` given beside it."""
    return target_for(path, seed, scenario).file.schedule
