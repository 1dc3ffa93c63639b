"""The failure database: every failing schedule, saved as a file and replayed first next time.

Like Hypothesis's example database: a directory (default `.mfm-sim/failures/`) of schedule
JSON files named `<scenario>-<seed>.json`. Each file is a plain schedule (`Schedule.load`
reads it) plus a few informative keys: the engine variant it failed under, the invariant
and the digest. A file that cannot be read is reported, never fatal.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import attrs

from mfm_sim.run.result import SimResult
from mfm_sim.run.schedule import Schedule, ScheduleError, read_json_file

__all__ = ["DEFAULT_DIR", "Entry", "FailureDB", "Replayed", "entry_name", "load_all", "save"]

DEFAULT_DIR = os.path.join(".mfm-sim", "failures")
_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]+")


def entry_name(scenario: str, seed: int, suffix: str | None = None) -> str:
    """`<scenario>-<seed>[-<suffix>].json`, with anything unsafe for a file name replaced."""
    base = f"{scenario}-{seed}" + (f"-{suffix}" if suffix else "")
    return _UNSAFE.sub("_", base) + ".json"


@attrs.frozen
class Entry:
    """One file of the database: its schedule, or the reason it could not be read."""

    path: Path
    schedule: Schedule | None
    variant: str | None = None
    invariant: str | None = None
    digest: str | None = None
    error: str | None = None


@attrs.frozen
class Replayed:
    entry: Entry
    result: SimResult

    @property
    def fixed(self) -> bool:
        return self.result.ok


class FailureDB:
    def __init__(self, directory: str | os.PathLike[str] = DEFAULT_DIR) -> None:
        self.dir = Path(directory)
        self.errors: list[tuple[Path, str]] = []  # (file, why) from the last load

    def path_for(self, scenario: str, seed: int, suffix: str | None = None) -> Path:
        return self.dir / entry_name(scenario, seed, suffix)

    def save(
        self,
        result: SimResult,
        *,
        variant: str | None = None,
        suffix: str | None = None,
    ) -> Path:
        """Write `result`'s schedule (replaces an older file of the same name); return its path."""
        self.dir.mkdir(parents=True, exist_ok=True)
        path = self.path_for(result.scenario, result.seed, suffix)
        data: dict[str, Any] = result.schedule.to_json()
        data["variant"] = variant
        data["invariant"] = result.violations[0].invariant if result.violations else None
        data["digest"] = result.digest
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
        os.replace(tmp, path)
        return path

    def entries(self) -> list[Entry]:
        """Every `*.json` file, sorted by name; unreadable ones carry `error` instead."""
        self.errors = []
        if not self.dir.is_dir():
            return []
        out: list[Entry] = []
        for path in sorted(self.dir.glob("*.json")):
            out.append(self._read(path))
        self.errors = [(e.path, e.error) for e in out if e.error is not None]
        return out

    def load_all(self) -> list[Schedule]:
        """The readable schedules, sorted by file name; problems are listed in `errors`."""
        return [e.schedule for e in self.entries() if e.schedule is not None]

    def _read(self, path: Path) -> Entry:
        try:
            # Capped in size and depth: one huge or deeply nested file must not stop a run.
            raw = read_json_file(path)
            schedule = Schedule.from_json(raw)
        except ScheduleError as exc:
            return Entry(path, None, error=str(exc))
        variant = raw.get("variant")
        invariant = raw.get("invariant")
        digest = raw.get("digest")
        return Entry(
            path,
            schedule,
            variant=variant if isinstance(variant, str) else None,
            invariant=invariant if isinstance(invariant, str) else None,
            digest=digest if isinstance(digest, str) else None,
        )

    def remove(self, entries: Iterable[Entry]) -> int:
        n = 0
        for e in entries:
            try:
                e.path.unlink()
                n += 1
            except FileNotFoundError:
                pass
        return n


def save(
    result: SimResult,
    directory: str | os.PathLike[str] = DEFAULT_DIR,
    *,
    variant: str | None = None,
) -> Path:
    """Save `result`'s schedule to the database in `directory`; return the file's path."""
    return FailureDB(directory).save(result, variant=variant)


def load_all(directory: str | os.PathLike[str] = DEFAULT_DIR) -> list[Schedule]:
    """The readable schedules in `directory`, sorted by file name (unreadable ones skipped;
    use `FailureDB(directory).entries()` to see why)."""
    return FailureDB(directory).load_all()
