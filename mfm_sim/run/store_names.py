"""The durable stores a schedule can run the engine on, by name, and the flaws each can be built
with: `memory`, `sqlite`, `jsonl`, or a flawed variant such as `sqlite:synchronous_off`.

A leaf module: the schedule file, the CLI and the backends all check names here, without loading
the simulated disk or apsw.
"""

from __future__ import annotations

__all__ = ["MEMORY", "STORES", "STORE_FLAWS", "parse_store"]

MEMORY = "memory"
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
    if name not in STORES:
        raise ValueError(f"unknown store {name!r}; known: {', '.join(STORES)}")
    if flaw and flaw not in STORE_FLAWS[name]:
        known = ", ".join(STORE_FLAWS[name]) or "none"
        raise ValueError(f"unknown flaw {flaw!r} of the {name} store; known: {known}")
    return name, flaw or None
