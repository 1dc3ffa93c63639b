"""A schedule as data: the seed, the scenario and the faults that fired. Replays bit for bit."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import attrs

from mfm_sim.faults.kinds import Fault
from mfm_sim.run.store_backend import parse_store

__all__ = [
    "SCHEDULE_FORMAT",
    "Schedule",
    "ScheduleError",
]

SCHEDULE_FORMAT = "mfm-sim-schedule/1"


class ScheduleError(ValueError):
    """A schedule file that cannot be used; the message says what to fix."""


def _store(value: Any) -> str:
    """A schedule file's store, checked (a ValueError names what is known)."""
    if not isinstance(value, str):
        raise ValueError(f"store {value!r} is not a store name")
    parse_store(value)
    return value


@attrs.frozen
class Schedule:
    seed: int
    scenario: str
    faults: tuple[Fault, ...]
    recoverable: bool = True
    interleave: bool = False
    # The durable store the engine ran on (`run/store_backend.py`); written only when it is
    # not the in-memory default, so every schedule written before stays byte for byte.
    store: str = "memory"

    def to_json(self) -> dict[str, Any]:
        out = {
            "format": SCHEDULE_FORMAT,
            "seed": self.seed,
            "scenario": self.scenario,
            "recoverable": self.recoverable,
            "interleave": self.interleave,
            "faults": [f.to_json() for f in self.faults],
        }
        if self.store != "memory":
            out["store"] = self.store
        return out

    @classmethod
    def from_json(cls, value: Any) -> Schedule:
        if not isinstance(value, dict) or value.get("format") != SCHEDULE_FORMAT:
            raise ScheduleError(f"not an mfm-sim schedule (expected format {SCHEDULE_FORMAT!r})")
        try:
            seed = int(value["seed"])
            if not 0 <= seed < 2**64:
                raise ValueError("seed out of range")
            return cls(
                seed=seed,
                scenario=str(value["scenario"]),
                faults=tuple(Fault.from_json(f) for f in value["faults"]),
                recoverable=bool(value.get("recoverable", True)),
                interleave=bool(value.get("interleave", False)),
                store=_store(value.get("store", "memory")),
            )
        except KeyError as exc:
            raise ScheduleError(f"corrupt schedule: missing field {exc}") from None
        except (TypeError, ValueError, OverflowError) as exc:
            raise ScheduleError(f"corrupt schedule: {exc}") from None

    def dump(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.to_json(), indent=2, sort_keys=True) + "\n")

    @classmethod
    def load(cls, path: str | Path) -> Schedule:
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError as exc:
            raise ScheduleError(f"cannot read schedule file {path}: {exc.strerror}") from None
        except UnicodeDecodeError:
            raise ScheduleError(
                f"schedule file {path} is not UTF-8 text (is it a schedule?)"
            ) from None
        try:
            value = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ScheduleError(
                f"schedule file {path} is not JSON: {exc.msg} at line {exc.lineno}"
            ) from None
        return cls.from_json(value)
