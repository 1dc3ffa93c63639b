"""Per-kind streams: a kind added to the fault table re-keys no existing seed.

A subprocess loads `mfm_sim.faults.kinds` with one more (test-only, no-op) kind in the table,
at sites every schedule reaches, and runs the same seeds as an unpatched process. Every
schedule in which the new kind did not fire must be the same, digest for digest, including
those where the swarm switched it on and it drew at every fault point.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

SEEDS = 40
SCENARIOS = ("linear", "diamond_io")

CHILD = Path(__file__).with_name("kind_streams_child.py")


def _run(patch: bool) -> dict[str, list[object]]:
    args = [sys.executable, str(CHILD), ",".join(SCENARIOS), str(SEEDS), *(["--patch"] * patch)]
    done = subprocess.run(args, capture_output=True, text=True, check=False, timeout=600)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)  # type: ignore[no-any-return]


def test_a_new_kind_re_keys_no_seed_where_it_does_not_fire() -> None:
    plain, patched = _run(False), _run(True)
    assert plain.keys() == patched.keys()
    on_but_silent = fired_somewhere = 0
    for key, (digest, fired, _on) in plain.items():
        new_digest, new_fired, on = patched[key]
        assert "test_only" not in fired
        if "test_only" in new_fired:
            fired_somewhere += 1
            continue
        assert new_digest == digest, f"{key}: the new kind re-keyed this seed"
        assert new_fired == fired, key
        on_but_silent += on
    # The test means something: the new kind was on (and drew) in seeds it left unchanged,
    # and it is a real kind that fires in others.
    assert on_but_silent >= 3 and fired_somewhere >= 1, (on_but_silent, fired_somewhere)
