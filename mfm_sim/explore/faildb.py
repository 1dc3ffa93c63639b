"""The failure database: every failing schedule, saved as a file and replayed first next time.

Like Hypothesis's example database: a directory (default `.mfm-sim/failures/`) of schedule
JSON files named `<scenario>-<seed>.json`. Each file is a plain schedule (`Schedule.load`
reads it) plus a few informative keys: the engine variant it failed under, the invariant
and the digest. A file that cannot be read is reported, never fatal; `entries(quarantine=True)`
also moves it aside into `quarantine/`, so one corrupt file (bad JSON, deep nesting, a
5,000-digit seed, wrong types) costs one warning once and never blocks a run. Files are
written through unique temporary names (`write_atomic`): runs sharing a directory never
collide, and a reader never sees half a file.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import attrs

from mfm_sim.explore.atomic_file import write_atomic
from mfm_sim.run.result import SimResult
from mfm_sim.run.schedule import MAX_FILE_BYTES, Schedule, ScheduleError, read_json_file

__all__ = [
    "DEFAULT_DIR",
    "MAX_ENTRY_BYTES",
    "QUARANTINE",
    "Entry",
    "FailureDB",
    "Replayed",
    "entry_name",
    "load_all",
    "save",
]

DEFAULT_DIR = os.path.join(".mfm-sim", "failures")
QUARANTINE = "quarantine"  # subdirectory that unreadable entries are moved to
MAX_ENTRY_BYTES = MAX_FILE_BYTES  # a saved schedule is a few KiB; anything this large is not one
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
        write_atomic(path, json.dumps(data, indent=2, sort_keys=True) + "\n")
        return path

    def entries(self, *, quarantine: bool = False) -> list[Entry]:
        """Every `*.json` file, sorted by name; unreadable ones carry `error` instead. With
        `quarantine`, each unreadable one is moved into `quarantine/` (its `error` says where)."""
        self.errors = []
        if not self.dir.is_dir():
            return []
        out: list[Entry] = []
        for path in sorted(self.dir.glob("*.json")):
            entry = self._read(path)
            if entry.error is not None and quarantine:
                entry = attrs.evolve(entry, error=f"{entry.error}; {self._quarantine(path)}")
            out.append(entry)
        self.errors = [(e.path, e.error) for e in out if e.error is not None]
        return out

    def _quarantine(self, path: Path) -> str:
        """Move `path` aside (never over an earlier quarantined file); say what was done."""
        target_dir = self.dir / QUARANTINE
        try:
            target_dir.mkdir(exist_ok=True)
            n = 0
            target = target_dir / path.name
            while target.exists():
                n += 1
                target = target_dir / f"{path.stem}.{n}{path.suffix}"
            os.replace(path, target)
        except OSError as exc:
            return f"could not move it aside: {exc.strerror or exc}"
        return f"moved to {target}"

    def load_all(self) -> list[Schedule]:
        """The readable schedules, sorted by file name; problems are listed in `errors`."""
        return [e.schedule for e in self.entries() if e.schedule is not None]

    def _read(self, path: Path) -> Entry:
        try:
            # Capped in size and depth: one huge or deeply nested file must not stop a run.
            raw = read_json_file(path)
        except ScheduleError as exc:
            return Entry(path, None, error=_short(exc))
        if not isinstance(raw, dict):
            return Entry(path, None, error="not a JSON object")
        try:
            schedule = Schedule.from_json(raw)
        except (ScheduleError, ValueError, TypeError, KeyError, RecursionError) as exc:
            return Entry(path, None, error=_short(exc))
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


def _short(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= 200 else text[:197] + "..."


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
