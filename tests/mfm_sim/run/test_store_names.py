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


def test_mix_draws_each_seeds_store_from_its_own_stream() -> None:
    from mfm_sim.run.store_names import MIX, draw_store

    assert parse_store("mix") == (MIX, None)
    with pytest.raises(ValueError, match="unknown store 'mix'"):
        parse_store("mix:synchronous_off")
    drawn = [draw_store(seed) for seed in range(60)]
    assert drawn == [draw_store(seed) for seed in range(60)]  # a function of the seed
    assert set(drawn) == set(STORES)
