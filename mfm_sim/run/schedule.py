"""A schedule as data: the seed, the scenario and the faults that fired. Replays bit for bit.

A schedule file is read with a size cap and a nesting cap before it is parsed, then checked
strictly (types, not coercions) and semantically against the fault-kind table: each fault's
kind at one of its sites, its argument in the kind's range, steps in order, and no more faults
than a recoverable schedule's budget. A file that breaks a rule is a `ScheduleError` (bad
input), never a simulated run the invariants would then blame on the engine.
"""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import attrs

from mfm_sim.faults.injector import SETUP_STEP
from mfm_sim.faults.kinds import FAULTS, Fault, FaultKind
from mfm_sim.faults.swarm import MAX_BUDGET
from mfm_sim.run.store_names import MEMORY, MIX, parse_store

__all__ = [
    "MAX_DEPTH",
    "MAX_FAULTS",
    "MAX_FILE_BYTES",
    "MAX_SIZED_ARG",
    "MAX_STEP",
    "SCHEDULE_FORMAT",
    "Schedule",
    "ScheduleError",
    "ScheduleFile",
    "read_json_file",
]

SCHEDULE_FORMAT = "mfm-sim-schedule/1"
# Far above any schedule the harness writes (a few kB), far below what hurts a machine:
# `--schedule /dev/zero` must be refused, not read.
MAX_FILE_BYTES = 1 << 20
MAX_DEPTH = 8  # a schedule nests 3 deep; deeper is not a schedule (and would recurse)
MAX_FAULTS = 4096  # unrestricted schedules; recoverable ones fit the budget (MAX_BUDGET)
MAX_STEP = 2**32  # fault points per schedule are bounded far below this
# A sized argument (a record's position) is clamped to the call's size when it fires; this
# cap only keeps absurd numbers out of a file.
MAX_SIZED_ARG = 2**20
SETUP_SITE = "manifest.put"  # the one fault point before the first step
USER_SITE_PREFIX = "buggify:"  # users' own fault points: `buggify:<name>`
# The keys a failure-database or shrunk file adds (`ScheduleFile`); other keys (a `note`)
# are ignored.
_STRINGS = re.compile(r'"(?:[^"\\]|\\.)*"')


class ScheduleError(ValueError):
    """A schedule file that cannot be used; the message says what to fix."""


def _short(value: Any) -> str:
    """`repr(value)`, cut to 40 characters: a bad value is named, never printed whole."""
    text = repr(value) if not isinstance(value, int) or abs(value) < 10**40 else "a huge number"
    return text if len(text) <= 40 else text[:37] + "..."


def _typed(value: Mapping[str, Any], key: str, kind: type, default: Any = None) -> Any:
    """`value[key]`, which must be exactly of type `kind` (a bool is no int, 1.5 no int)."""
    if key not in value:
        if default is None:
            raise ScheduleError(f"corrupt schedule: missing field {key!r}")
        return default
    got = value[key]
    if type(got) is not kind:
        want = {int: "an integer", bool: "true or false", str: "a string", list: "a list"}
        raise ScheduleError(
            f"corrupt schedule: {key} must be {want.get(kind, kind.__name__)}, not {_short(got)}"
        )
    return got


def _fault(value: Any, index: int) -> Fault:
    where = f"fault {index}"
    if not isinstance(value, dict):
        raise ScheduleError(f"corrupt schedule: {where} is not an object")
    try:
        step = _typed(value, "step", int)
        name = _typed(value, "kind", str)
        site = _typed(value, "site", str)
        arg = _typed(value, "arg", int, 0)
    except ScheduleError as exc:
        raise ScheduleError(f"{exc} (in {where})") from None
    try:
        kind = FaultKind(name)
    except ValueError:
        raise ScheduleError(
            f"corrupt schedule: {where}: unknown fault kind {_short(name)}"
        ) from None
    spec = FAULTS[kind]
    if kind is FaultKind.BUGGIFY:
        ok_site = site.startswith(USER_SITE_PREFIX) and len(site) > len(USER_SITE_PREFIX)
    else:
        ok_site = site in spec.sites
    if not ok_site:
        sites = ", ".join(spec.sites) if kind is not FaultKind.BUGGIFY else "buggify:<name>"
        raise ScheduleError(
            f"corrupt schedule: {where}: {name} cannot happen at site {_short(site)} "
            f"(its sites: {sites})"
        )
    if (step == SETUP_STEP) != (site == SETUP_SITE):
        raise ScheduleError(
            f"corrupt schedule: {where}: step {SETUP_STEP} is the {SETUP_SITE} setup and "
            f"nothing else (got step {step} at {site})"
        )
    if not 0 <= step <= MAX_STEP:
        raise ScheduleError(
            f"corrupt schedule: {where}: step {_short(step)} is not in 0..{MAX_STEP}"
        )
    args = spec.args
    high = MAX_SIZED_ARG if args.sized else args.high
    if not args.low <= arg <= high:
        meaning = f" ({args.meaning})" if args.meaning else ""
        raise ScheduleError(
            f"corrupt schedule: {where}: {name} argument {_short(arg)} is not in "
            f"{args.low}..{high}{meaning}"
        )
    return Fault(step, kind, site, arg)


@attrs.frozen
class Schedule:
    seed: int
    scenario: str
    faults: tuple[Fault, ...]
    recoverable: bool = True
    interleave: bool = False
    # The durable store the engine ran on (`run/store_names.py`); written only when it is
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
        """The schedule `value` holds, checked strictly; raises `ScheduleError`."""
        if not isinstance(value, dict) or value.get("format") != SCHEDULE_FORMAT:
            raise ScheduleError(f"not an mfm-sim schedule (expected format {SCHEDULE_FORMAT!r})")
        seed = _typed(value, "seed", int)
        if not 0 <= seed < 2**64:
            raise ScheduleError(f"corrupt schedule: seed out of range [0, 2**64): {_short(seed)}")
        scenario = _typed(value, "scenario", str)
        recoverable = _typed(value, "recoverable", bool, True)
        interleave = _typed(value, "interleave", bool, False)
        raw = _typed(value, "faults", list)
        cap = MAX_BUDGET if recoverable else MAX_FAULTS
        if len(raw) > cap:
            mode = (
                f"a recoverable schedule holds at most the fault budget, {cap} (or set "
                '"recoverable": false, where liveness is not judged)'
                if recoverable
                else f"an unrestricted schedule holds at most {cap}"
            )
            raise ScheduleError(f"corrupt schedule: {len(raw)} faults: {mode}")
        faults = tuple(_fault(f, i) for i, f in enumerate(raw))
        for i, (a, b) in enumerate(itertools.pairwise(faults), 1):
            if b.step <= a.step:
                raise ScheduleError(
                    f"corrupt schedule: fault {i} at step {b.step} does not come after step "
                    f"{a.step}: steps must increase (one fault per fault point)"
                )
        store = _typed(value, "store", str, MEMORY)
        try:
            if parse_store(store)[0] == MIX:  # a schedule records the store a seed drew
                raise ValueError(f"store {MIX!r} is not one store")
        except ValueError as exc:
            raise ScheduleError(f"corrupt schedule: {exc}") from None
        return cls(seed, scenario, faults, recoverable, interleave, store)

    def dump(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.to_json(), indent=2, sort_keys=True) + "\n")

    @classmethod
    def load(cls, path: str | Path) -> Schedule:
        return cls.from_json(read_json_file(path))


@attrs.frozen
class ScheduleFile:
    """A schedule file with what it recorded beside the schedule (a failure-database or a
    shrunk file): the engine variant it failed under, the invariant and the trace digest,
    which a replay of it must reproduce."""

    schedule: Schedule
    variant: str | None = None
    invariant: str | None = None
    digest: str | None = None

    def to_json(self) -> dict[str, Any]:
        data = self.schedule.to_json()
        data.update(variant=self.variant, invariant=self.invariant, digest=self.digest)
        return data

    @classmethod
    def from_json(cls, value: Any) -> ScheduleFile:
        schedule = Schedule.from_json(value)
        extra = {}
        for key in ("variant", "invariant", "digest"):
            got = value.get(key)
            if got is not None and type(got) is not str:
                raise ScheduleError(f"corrupt schedule: {key} must be a string or null")
            extra[key] = got
        return cls(schedule, **extra)

    def dump(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.to_json(), indent=2, sort_keys=True) + "\n")

    @classmethod
    def load(cls, path: str | Path) -> ScheduleFile:
        return cls.from_json(read_json_file(path))


def _depth(text: str) -> int:
    """The deepest nesting of `[` and `{` in JSON `text` (strings skipped)."""
    depth = deepest = 0
    for ch in _STRINGS.sub("", text):
        if ch in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif ch in "]}":
            depth -= 1
    return deepest


def read_json_file(path: str | Path) -> Any:
    """The JSON value in `path`, read with a size cap and a nesting cap; `ScheduleError` if it
    cannot be read, is too large or too deep, or is not UTF-8 JSON."""
    try:
        with open(path, "rb") as fh:
            data = fh.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise ScheduleError(f"cannot read schedule file {path}: {exc.strerror or exc}") from None
    if len(data) > MAX_FILE_BYTES:
        raise ScheduleError(
            f"schedule file {path} is larger than {MAX_FILE_BYTES} bytes (is it a schedule?)"
        )
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise ScheduleError(f"schedule file {path} is not UTF-8 text (is it a schedule?)") from None
    if _depth(text) > MAX_DEPTH:
        raise ScheduleError(
            f"schedule file {path} nests deeper than {MAX_DEPTH} levels (is it a schedule?)"
        )
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ScheduleError(
            f"schedule file {path} is not JSON: {exc.msg} at line {exc.lineno}"
        ) from None
    except ValueError as exc:  # a number of more than 4,300 digits
        raise ScheduleError(f"schedule file {path} is not usable JSON: {exc}") from None
