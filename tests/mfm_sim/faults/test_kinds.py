"""mfm_sim.faults.kinds: the fault table, what is derived from it, and `parse_kinds`."""

from __future__ import annotations

import pytest

from mfm_sim.faults.kinds import ALL_KINDS, SITE_KINDS, FaultKind, parse_kinds

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
