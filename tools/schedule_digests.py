"""Record or compare the trace digest of every built-in scenario's schedules.

A re-layout or a refactor must leave every schedule as it was. Record before the change,
compare after it:

    python tools/schedule_digests.py record digests.json
    python tools/schedule_digests.py compare digests.json

It uses only the public surface (`mfm_sim.simulate`, `mfm_sim.all_scenarios`), so the same
script runs on both sides of a move. Exit 0 when all are identical, 1 otherwise.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from mfm_sim import all_scenarios, get_scenario, simulate

SEEDS = range(100)
VARIANT = "unfixed_orphan"
VARIANT_SCENARIOS = ("linear", "crash_loop", "diamond_io")


def digests() -> dict[str, str]:
    out: dict[str, str] = {}
    for scenario in all_scenarios():
        for seed in SEEDS:
            result = simulate(scenario, seed)
            out[f"{scenario.name}/{seed}"] = f"{result.digest} {len(result.violations)}"
    for name in VARIANT_SCENARIOS:
        scenario = get_scenario(name)
        for seed in SEEDS:
            result = simulate(scenario, seed, variant=VARIANT)
            out[f"{VARIANT}:{name}/{seed}"] = f"{result.digest} {len(result.violations)}"
    return out


def main(argv: list[str]) -> int:
    if len(argv) != 2 or argv[0] not in ("record", "compare"):
        print("usage: schedule_digests.py record|compare FILE", file=sys.stderr)
        return 2
    mode, path = argv[0], Path(argv[1])
    now = digests()
    if mode == "record":
        path.write_text(json.dumps(now, indent=0, sort_keys=True) + "\n")
        print(f"recorded {len(now)} schedule digests to {path}")
        return 0
    before = json.loads(path.read_text())
    differ = sorted(k for k in before.keys() | now.keys() if before.get(k) != now.get(k))
    for key in differ[:20]:
        print(f"DIFFERS {key}: before {before.get(key)} now {now.get(key)}")
    same = len(before.keys() & now.keys()) - len([k for k in differ if k in before and k in now])
    print(f"{same} identical, {len(differ)} differ, of {len(before)} recorded and {len(now)} now")
    return 1 if differ else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
