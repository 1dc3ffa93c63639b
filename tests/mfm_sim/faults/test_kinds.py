"""mfm_sim.faults.kinds: the fault table, what is derived from it, and `parse_kinds`."""

from __future__ import annotations

import pytest

from mfm_sim.faults.kinds import (
    ALL_KINDS,
    CRASH_KINDS,
    ENUMERATED_KINDS,
    FAULTS,
    HONEST_KINDS,
    LOG_LIE_KINDS,
    LYING_KINDS,
    MAX_LATENCY_MS,
    SITE_KINDS,
    SITES,
    FaultClass,
    FaultKind,
    parse_kinds,
)

K = FaultKind


# ----------------------------------------------------------------------------- parse_kinds


def test_parse_kinds() -> None:
    assert parse_kinds("all") == ALL_KINDS
    assert parse_kinds("") == ALL_KINDS
    assert parse_kinds("  all ") == ALL_KINDS
    assert parse_kinds("none") == ()
    # Canonical order and no duplicates, whatever order they were given in.
    assert parse_kinds("latency, crash_before_effect,latency") == (
        K.CRASH_BEFORE_EFFECT,
        K.LATENCY,
    )


@pytest.mark.parametrize("text", ["meteor", "latency,meteor", "latency,,crash_in_handler"])
def test_parse_kinds_names_the_bad_kind(text: str) -> None:
    with pytest.raises(ValueError) as exc:
        parse_kinds(text)
    msg = str(exc.value)
    assert msg.startswith("unknown fault kind")
    assert "known kinds: crash_before_effect" in msg
    assert "\n" not in msg


def test_site_kinds_are_known_kinds() -> None:
    for site, kinds in SITE_KINDS.items():
        assert kinds, site
        assert set(kinds) <= set(ALL_KINDS)
        assert len(set(kinds)) == len(kinds)
    assert SITE_KINDS["manifest.put"] == (K.CORRUPTED_ARTIFACT,)
    # Only multi-event appends can be torn; only writes can be dropped or corrupted.
    assert [s for s, ks in SITE_KINDS.items() if K.CRASH_MID_APPEND in ks] == ["events.append"]
    assert {s for s, ks in SITE_KINDS.items() if K.DROPPED_WRITE in ks} == {"artifacts.put"}
    # Every kind can fire somewhere.
    assert set().union(*SITE_KINDS.values()) == set(ALL_KINDS)


# ------------------------------------------------------------------------------- the table


@pytest.mark.parametrize("kind", ALL_KINDS, ids=lambda k: k.value)
def test_every_kind_has_a_complete_entry(kind: FaultKind) -> None:
    spec = FAULTS[kind]
    assert isinstance(spec.fault_class, FaultClass)
    assert spec.sites and len(set(spec.sites)) == len(spec.sites)
    assert set(spec.sites) <= set(SITES)
    assert spec.meaning and "\n" not in spec.meaning and spec.meaning == spec.meaning.strip()
    args = spec.args
    assert args.low >= 0 and (args.sized or args.low <= args.high)
    assert args.fixed or args.meaning, "an argument that varies says what it means"
    for simpler, arg in spec.simpler:
        # Simpler faults can stand at one of this kind's sites, with an argument they can take.
        assert set(FAULTS[simpler].sites) & set(spec.sites), simpler
        assert arg in FAULTS[simpler].args.values(size=arg + 1), (simpler, arg)
    # Crash enumeration injects crashes only.
    assert not spec.enumerated or spec.fault_class is FaultClass.CRASH


def test_the_table_has_a_row_per_kind_and_no_other() -> None:
    assert list(FAULTS) == list(FaultKind)


def test_classes_are_derived_from_the_table() -> None:
    def of(*classes: FaultClass) -> frozenset[FaultKind]:
        return frozenset(k for k in ALL_KINDS if FAULTS[k].fault_class in classes)

    assert of(FaultClass.CRASH) == CRASH_KINDS
    assert of(FaultClass.CRASH, FaultClass.HONEST) == HONEST_KINDS
    assert of(FaultClass.LYING) == LYING_KINDS
    assert not HONEST_KINDS & LYING_KINDS
    # What the checker was built on: a change here changes which runs it judges how.
    assert {
        K.CRASH_BEFORE_EFFECT,
        K.CRASH_AFTER_EFFECT,
        K.CRASH_MID_APPEND,
        K.CRASH_IN_HANDLER,
        K.DISK_CRASH_UNSYNCED,
        K.DISK_TORN_WRITE,
    } == CRASH_KINDS
    honest = {K.TRANSIENT_ERROR, K.AMBIGUOUS_ERROR, K.LATENCY, K.STOP_AFTER_HANDLER, K.DISK_LATENCY}
    assert CRASH_KINDS | honest == HONEST_KINDS
    disk_lies = {K.DISK_LOST_SYNC, K.DISK_MISDIRECTED_WRITE, K.DISK_BIT_FLIP}
    put_lies = {K.DROPPED_WRITE, K.CORRUPTED_ARTIFACT, K.ARTIFACT_PUT_ID_MISMATCH}
    assert {*put_lies, *LOG_LIE_KINDS, *disk_lies} == LYING_KINDS
    assert tuple(k for k in ALL_KINDS if FAULTS[k].enumerated) == ENUMERATED_KINDS


def test_site_kinds_invert_the_table_in_kind_order() -> None:
    for site in SITES:
        assert SITE_KINDS[site] == tuple(k for k in ALL_KINDS if site in FAULTS[k].sites)
    assert set(SITE_KINDS) == {s for spec in FAULTS.values() for s in spec.sites}


def test_arg_ranges() -> None:
    assert FAULTS[K.LATENCY].args.values() == range(1, MAX_LATENCY_MS + 1)
    assert FAULTS[K.CRASH_MID_APPEND].args.values(size=4) == range(1, 4)  # strict prefixes
    assert FAULTS[K.CRASH_MID_APPEND].args.values(size=1) == range(1, 1)  # none
    assert not FAULTS[K.CRASH_MID_APPEND].args.fixed  # drawn even when one value fits
    assert FAULTS[K.TRANSIENT_ERROR].args.fixed and FAULTS[K.TRANSIENT_ERROR].args.values() == (
        range(0, 1)
    )
