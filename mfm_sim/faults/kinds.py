"""The fault model in one table: each fault kind's sites, argument, meaning, simplification,
use by crash enumeration and class.

Everything else reads `FAULTS` (the injector, the swarm, the CLI's `list` and `--faults`,
the Hypothesis strategies, shrinking, crash-point enumeration, the checker's classes), so a
new kind is a member of `FaultKind`, its row here, its effect at its sites (`stores.py`,
`handlers.py`, `transports.py`) and a test. Pure data: the oracle imports this too.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from typing import Any

import attrs

__all__ = [
    "ALL_KINDS",
    "CRASH_KINDS",
    "DISK_KINDS",
    "DISK_SITES",
    "ENUMERATED_KINDS",
    "FAULTS",
    "HONEST_KINDS",
    "KIND_GROUPS",
    "LOG_LIE_KINDS",
    "LYING_KINDS",
    "MAX_LATENCY_MS",
    "SITES",
    "SITE_KINDS",
    "ArgRange",
    "Fault",
    "FaultClass",
    "FaultKind",
    "FaultSpec",
    "parse_kinds",
]


class FaultKind(enum.Enum):
    # Each kind draws from its own streams (`swarm:<kind>`, `faults:<kind>`), so a new kind
    # re-keys no seed; it goes last, since the order decides which of two kinds that both
    # fire at one fault point wins (the first).
    CRASH_BEFORE_EFFECT = "crash_before_effect"
    CRASH_AFTER_EFFECT = "crash_after_effect"
    CRASH_MID_APPEND = "crash_mid_append"
    CRASH_IN_HANDLER = "crash_in_handler"
    TRANSIENT_ERROR = "transient_error"
    AMBIGUOUS_ERROR = "ambiguous_error"
    DROPPED_WRITE = "dropped_write"
    CORRUPTED_ARTIFACT = "corrupted_artifact"
    LATENCY = "latency"
    HANDLER_FAILURE = "handler_failure"
    BUGGIFY = "buggify"  # a user's own fault point (mfm_sim.testing.buggify) fired
    # Lying log: a read of a run's whole stream returns records the log never held.
    LIE_DUPLICATE_FACT = "lie_duplicate_fact"
    LIE_CONFLICTING_FACT = "lie_conflicting_fact"
    LIE_SEQ_GAP = "lie_seq_gap"
    LIE_REORDERED_RANGE = "lie_reordered_range"
    LIE_FOREIGN_RECORD = "lie_foreign_record"
    # A well-numbered history no engine wrote (attempts, RunStarted, a fact record).
    LIE_REWRITTEN_HISTORY = "lie_rewritten_history"
    # The engine's own failpoint (`EngineFailpoints.stop_after_handler_once`), set by the runner.
    STOP_AFTER_HANDLER = "stop_after_handler"
    # The simulated disk under a real store (`mfm_sim.world.disk`, applied by `faults/disk.py`).
    DISK_CRASH_UNSYNCED = "disk_crash_unsynced"
    DISK_TORN_WRITE = "disk_torn_write"
    DISK_LOST_SYNC = "disk_lost_sync"
    DISK_MISDIRECTED_WRITE = "disk_misdirected_write"
    DISK_BIT_FLIP = "disk_bit_flip"
    DISK_LATENCY = "disk_latency"
    # The artifact store keeps the bytes but answers the put with another artifact's id.
    ARTIFACT_PUT_ID_MISMATCH = "artifact_put_id_mismatch"


class FaultClass(enum.Enum):
    """What a fault lets the checker expect of the run."""

    CRASH = "crash"  # the process dies; the store told the truth
    HONEST = "honest"  # the store told the truth: the fault-free outcome must be reproduced
    LYING = "lying"  # the store lied: the engine may fail, but must detect it
    # Neither: the run may rightly end otherwise (a handler's own failure, a user's fault).
    OTHER = "other"


@attrs.frozen
class ArgRange:
    """A fault's argument: `low..high` inclusive, or with `sized` `low..size-1`, where size is
    the call's (the events of an append: a strict, non-empty prefix)."""

    low: int = 0
    high: int = 0
    sized: bool = False
    meaning: str = ""

    @property
    def fixed(self) -> bool:
        """True when there is one value: the injector then draws nothing for it."""
        return not self.sized and self.low == self.high

    def high_for(self, size: int) -> int:
        return size - 1 if self.sized else self.high

    def values(self, size: int = 1) -> range:
        return range(self.low, self.high_for(size) + 1)


@attrs.frozen
class FaultSpec:
    """One fault kind's row of the table."""

    fault_class: FaultClass
    sites: tuple[str, ...]  # the fault points that can suffer it
    meaning: str  # one line, for `mfm-sim list`
    args: ArgRange = ArgRange()
    # Simpler (kind, arg) at the same step and site, simplest first, for shrinking; one of
    # the same kind is simpler only with a smaller argument.
    simpler: tuple[tuple[FaultKind, int], ...] = ()
    enumerated: bool = False  # crash-point enumeration injects it at every value of `args`
    # The swarm's highest per-call rate for it (None: the swarm's own `MAX_RATE`), and whether
    # its sites skip BUGGIFY's once-per-run switch: for a site reached about once per
    # incarnation, where the usual odds would almost never fire.
    max_rate: float | None = None
    always_active: bool = False


K = FaultKind
C = FaultClass
MAX_LATENCY_MS = 800
_STORE_CALLS = (
    "artifacts.put",
    "artifacts.get",
    "artifacts.exists",
    "events.append",
    "events.head_seq",
    "events.read_range",
)
# A lie about the log is drawn at resume's one read of the whole stream: always active there,
# at up to 15% per read (one read per incarnation, so still rare per schedule).
_LOG_LIE: dict[str, Any] = {"max_rate": 0.15, "always_active": True}
# The calls that take effect (a crash after it, an ambiguous error).
_EFFECTFUL = ("artifacts.put", "events.append", "service")

FAULTS: Mapping[FaultKind, FaultSpec] = {
    K.CRASH_BEFORE_EFFECT: FaultSpec(
        C.CRASH,
        _STORE_CALLS,
        "the process dies at a store call; the call had no effect",
        enumerated=True,
    ),
    K.CRASH_AFTER_EFFECT: FaultSpec(
        C.CRASH,
        _EFFECTFUL,
        "the call took effect durably; the process dies before the ack",
        simpler=((K.CRASH_BEFORE_EFFECT, 0),),
        enumerated=True,
    ),
    K.CRASH_MID_APPEND: FaultSpec(
        C.CRASH,
        ("events.append",),
        "an append persists only a prefix of its events, then the process dies",
        ArgRange(1, sized=True, meaning="events persisted"),
        simpler=((K.CRASH_BEFORE_EFFECT, 0), (K.CRASH_MID_APPEND, 1)),
        enumerated=True,
    ),
    K.CRASH_IN_HANDLER: FaultSpec(
        C.CRASH,
        ("handler",),
        "the process dies while a handler runs (before or after its side effects)",
        ArgRange(0, 1, meaning="0 before the handler, 1 after it"),
        simpler=((K.CRASH_IN_HANDLER, 0),),
        enumerated=True,
    ),
    K.TRANSIENT_ERROR: FaultSpec(
        C.HONEST,
        (*_STORE_CALLS, "service"),
        "a store call raises a retryable storage error with no effect",
    ),
    K.AMBIGUOUS_ERROR: FaultSpec(
        C.HONEST,
        _EFFECTFUL,
        "a store call takes effect but raises a retryable error",
        simpler=((K.TRANSIENT_ERROR, 0),),
    ),
    K.DROPPED_WRITE: FaultSpec(
        C.LYING,
        ("artifacts.put",),
        "a write is acknowledged but never becomes durable",
    ),
    K.CORRUPTED_ARTIFACT: FaultSpec(
        C.LYING,
        # manifest.put: before the first start the operator's stored manifest rots (step 0).
        ("artifacts.put", "manifest.put"),
        "stored bytes change after the write",
    ),
    K.LATENCY: FaultSpec(
        C.HONEST,
        (*_STORE_CALLS, "service"),
        "a store call takes virtual time",
        ArgRange(1, MAX_LATENCY_MS, meaning="virtual milliseconds"),
        simpler=((K.LATENCY, 1),),
    ),
    K.HANDLER_FAILURE: FaultSpec(
        C.OTHER,
        ("handler",),
        "a handler raises a retryable or non-retryable error",
        ArgRange(0, 1, meaning="0 fatal, 1 retryable"),
    ),
    K.BUGGIFY: FaultSpec(
        C.OTHER,
        # Users' own fault points; each `buggify:<name>` site decides with its own stream.
        ("buggify",),
        "a user's own fault point (mfm_sim.testing.buggify) fires",
    ),
    # The lying log (`stores.py`): only a read of a whole stream (resume's, from seq 1) lies,
    # in a way the engine can and must refuse; a partial read has no argument that fits.
    **{
        kind: FaultSpec(
            C.LYING,
            ("events.read_range",),
            f"a read of the log returns {what}",
            ArgRange(low, sized=True, meaning=arg),
            **_LOG_LIE,
        )
        for kind, low, arg, what in (
            (K.LIE_DUPLICATE_FACT, 0, "which record", "a fact record (or any) twice, one seq"),
            (K.LIE_CONFLICTING_FACT, 0, "which fact", "a bound fact key bound to another payload"),
            (K.LIE_SEQ_GAP, 0, "the record after the gap", "its records with a seq skipped"),
            (K.LIE_REORDERED_RANGE, 1, "the later of the two", "two neighbouring records swapped"),
            (K.LIE_FOREIGN_RECORD, 0, "which record", "another run's record in place of its own"),
        )
    },
    # Numbered as an honest stream is, so only the engine's later checks can see it.
    K.LIE_REWRITTEN_HISTORY: FaultSpec(
        C.LYING,
        ("events.read_range",),
        "a read of the log returns a well-numbered history no engine wrote",
        ArgRange(0, 6, meaning="which rewrite (history_rewrites.SHAPES)"),
        **_LOG_LIE,
    ),
    # The engine stops itself after a main-run handler returns, writing nothing terminal, and
    # returns RUNNING; the operator resumes (`handlers.py` sets the flag, `incarnations.py`
    # hands the engine its failpoints). Honest: the log looks as after a crash past the
    # handler, and the fault-free outcome must be reproduced.
    K.STOP_AFTER_HANDLER: FaultSpec(
        C.HONEST,
        ("handler",),
        "the engine's stop_after_handler_once failpoint: it stops after a handler returns",
    ),
    # The simulated disk's faults (`faults/disk.py`): sites a real store's writes, syncs and
    # reads reach; a memory store reaches none, so they never fire there.
    K.DISK_CRASH_UNSYNCED: FaultSpec(
        C.CRASH,
        ("disk.write", "disk.sync"),
        "power is lost after a write or before a sync; the unsynced writes are dropped, "
        "kept or torn",
        enumerated=True,
    ),
    K.DISK_TORN_WRITE: FaultSpec(
        C.CRASH,
        ("disk.write",),
        "power is lost mid-write: only the write's first sectors persist",
        ArgRange(0, sized=True, meaning="sectors persisted"),
        simpler=((K.DISK_CRASH_UNSYNCED, 0), (K.DISK_TORN_WRITE, 0)),
    ),
    K.DISK_LOST_SYNC: FaultSpec(
        C.LYING,
        ("disk.sync",),
        "a sync reports success and persists nothing",
    ),
    K.DISK_MISDIRECTED_WRITE: FaultSpec(
        C.LYING,
        ("disk.write",),
        "a write lands some sectors further on in its file",
        ArgRange(1, 8, meaning="sectors off"),
        simpler=((K.DISK_MISDIRECTED_WRITE, 1),),
    ),
    K.DISK_BIT_FLIP: FaultSpec(
        C.LYING,
        ("disk.sync",),
        "one bit of the file's durable bytes flips after a sync",
        ArgRange(0, sized=True, meaning="which bit of the file"),
    ),
    K.DISK_LATENCY: FaultSpec(
        C.HONEST,
        ("disk.read", "disk.write", "disk.sync"),
        "a disk operation takes virtual time",
        ArgRange(1, MAX_LATENCY_MS, meaning="virtual milliseconds"),
        simpler=((K.DISK_LATENCY, 1),),
    ),
    # ENGINE.md, "Later checks": a store that returns another id for a put is refused
    # (`artifact_put_id_mismatch`); the bytes themselves are stored honestly.
    K.ARTIFACT_PUT_ID_MISMATCH: FaultSpec(
        C.LYING,
        ("artifacts.put",),
        "a put stores the bytes but answers with another artifact's id",
    ),
}

ALL_KINDS: tuple[FaultKind, ...] = tuple(FaultKind)


def _of_class(*classes: FaultClass) -> frozenset[FaultKind]:
    return frozenset(k for k in ALL_KINDS if FAULTS[k].fault_class in classes)


CRASH_KINDS = _of_class(C.CRASH)
# Faults after which the store told the truth: the fault-free outcome must be reproduced.
HONEST_KINDS = _of_class(C.CRASH, C.HONEST)
# Faults where the store lied: the engine may fail, but must detect it.
LYING_KINDS = _of_class(C.LYING)
# The lies about the event log (the others lie about artifact bytes).
LOG_LIE_KINDS: tuple[FaultKind, ...] = (
    K.LIE_DUPLICATE_FACT,
    K.LIE_CONFLICTING_FACT,
    K.LIE_SEQ_GAP,
    K.LIE_REORDERED_RANGE,
    K.LIE_FOREIGN_RECORD,
    K.LIE_REWRITTEN_HISTORY,
)
# The simulated disk's kinds: only a store on the disk reaches their sites.
DISK_KINDS: tuple[FaultKind, ...] = tuple(k for k in ALL_KINDS if k.value.startswith("disk_"))
# Names `--faults` accepts for a set of kinds. `lying-log`: the log lies, and the crashes
# that make the engine resume, the one call that reads a whole stream.
KIND_GROUPS: Mapping[str, tuple[FaultKind, ...]] = {
    "lying-log": tuple(k for k in ALL_KINDS if k in CRASH_KINDS or k in LOG_LIE_KINDS),
}
# The kinds crash-point enumeration injects, in kind order.
ENUMERATED_KINDS: tuple[FaultKind, ...] = tuple(k for k in ALL_KINDS if FAULTS[k].enumerated)
# Every fault point, in the order the table first names it.
SITES: tuple[str, ...] = tuple(dict.fromkeys(s for k in ALL_KINDS for s in FAULTS[k].sites))
# The faults each fault point can suffer, in kind order (the order of the swarm's draws).
SITE_KINDS: Mapping[str, tuple[FaultKind, ...]] = {
    site: tuple(k for k in ALL_KINDS if site in FAULTS[k].sites) for site in SITES
}
DISK_SITES: tuple[str, ...] = tuple(s for s in SITES if s.startswith("disk."))


def parse_kinds(text: str) -> tuple[FaultKind, ...]:
    """`crash_before_effect,latency`, `all`/`none` or a group of `KIND_GROUPS`; raises
    ValueError naming the bad kind."""
    text = text.strip()
    if text in ("all", ""):
        return ALL_KINDS
    if text == "none":
        return ()
    out: list[FaultKind] = []
    for part in text.split(","):
        name = part.strip()
        if name in KIND_GROUPS:
            out.extend(KIND_GROUPS[name])
            continue
        try:
            out.append(FaultKind(name))
        except ValueError:
            known = ", ".join([*(k.value for k in ALL_KINDS), *KIND_GROUPS])
            raise ValueError(f"unknown fault kind {name!r}; known kinds: {known}") from None
    return tuple(k for k in ALL_KINDS if k in out)


@attrs.frozen
class Fault:
    """One fault that fired. `step` numbers every fault point (store call or handler entry)."""

    step: int
    kind: FaultKind
    site: str
    arg: int = 0
    incarnation: int = 0
    vt_ns: int = 0
    target: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"step": self.step, "kind": self.kind.value, "site": self.site, "arg": self.arg}

    @classmethod
    def from_json(cls, value: Mapping[str, Any]) -> Fault:
        return cls(
            int(value["step"]),
            FaultKind(value["kind"]),
            str(value["site"]),
            int(value.get("arg", 0)),
        )
