"""The durable stores a schedule can run the engine on, by name, and the flaws each can be built
with: `memory`, `sqlite`, `jsonl`, or a flawed variant such as `sqlite:synchronous_off`.

A leaf module: the schedule file, the CLI and the backends all check names here, without loading
the simulated disk or apsw.
"""

from __future__ import annotations

from mfm_sim.world.rng import Streams

__all__ = ["MEMORY", "MIX", "STORES", "STORE_FLAWS", "STORE_STREAM", "draw_store", "parse_store"]

MEMORY = "memory"
# Not a store: each seed draws one of `STORES` from its own stream (`draw_store`).
MIX = "mix"
STORE_STREAM = "store"
STORES = (MEMORY, "sqlite", "jsonl")
# The deliberate flaws each store can be built with (`mfm_engine.sqlite_stores.SQLITE_FLAWS`,
# and the file log's `repair_torn_tail=False`): the self-check that a sweep catches each.
STORE_FLAWS: dict[str, tuple[str, ...]] = {
    MEMORY: (),
    "sqlite": ("append_two_transactions", "synchronous_off", "head_outside_transaction"),
    "jsonl": ("no_torn_tail_repair",),
}


def parse_store(text: str) -> tuple[str, str | None]:
    """`sqlite` or `sqlite:synchronous_off` -> (store, flaw); ValueError naming what is known."""
    name, _, flaw = text.strip().partition(":")
    if name == MIX and not flaw:
        return MIX, None
    if name not in STORES:
        known = ", ".join((*STORES, MIX))
        raise ValueError(f"unknown store {name!r}; known: {known}")
    if flaw and flaw not in STORE_FLAWS[name]:
        known = ", ".join(STORE_FLAWS[name]) or "none"
        raise ValueError(f"unknown flaw {flaw!r} of the {name} store; known: {known}")
    return name, flaw or None


def draw_store(seed: int) -> str:
    """The store seed `seed` runs on under `mix`: drawn from its own stream, so no other draw
    of the seed moves, and a memory draw is the schedule the seed has on `memory`."""
    return Streams(seed).stream(STORE_STREAM).choice(STORES)
