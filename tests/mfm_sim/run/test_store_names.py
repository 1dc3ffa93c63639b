"""mfm_sim.run.store_names: the store names and flaws `--store` and a schedule file take."""

from __future__ import annotations

import pytest

from mfm_sim.run.store_names import STORE_FLAWS, STORES, parse_store


def test_names_and_flaws_parse() -> None:
    assert STORES == ("memory", "sqlite", "jsonl")
    assert parse_store("memory") == ("memory", None)
    assert parse_store("sqlite") == ("sqlite", None)
    assert parse_store("sqlite:synchronous_off") == ("sqlite", "synchronous_off")
    assert parse_store("jsonl:no_torn_tail_repair") == ("jsonl", "no_torn_tail_repair")
    for bad, words in (
        ("disk", "unknown store 'disk'"),
        ("jsonl:synchronous_off", "unknown flaw 'synchronous_off' of the jsonl store"),
        ("memory:anything", "known: none"),
    ):
        with pytest.raises(ValueError, match=words):
            parse_store(bad)


def test_the_sqlite_flaws_are_the_stores_own() -> None:
    from mfm_engine.sqlite_stores import SQLITE_FLAWS

    assert set(STORE_FLAWS["sqlite"]) == set(SQLITE_FLAWS)
