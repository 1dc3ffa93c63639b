"""Run by `test_kind_streams.py` in a subprocess: the digest and faults of some seeds, with
`--patch` after loading `mfm_sim.faults.kinds` with one more (test-only, no-op) kind."""

from __future__ import annotations

import importlib.util
import json
import re
import sys

__all__ = ["main"]

NEW_MEMBER = '    TEST_ONLY = "test_only"'
NEW_ROW = (
    '    K.TEST_ONLY: FaultSpec(C.HONEST, ("artifacts.put", "events.append", "artifacts.get"),'
    ' "test only: fires and does nothing"),\n'
)


def _load_patched_kinds() -> None:
    """`kinds.py` as it would read with the new kind appended: last member, last row."""
    import mfm_sim.faults  # noqa: F401  (the package, not yet its `kinds`)

    spec = importlib.util.find_spec("mfm_sim.faults.kinds")
    assert spec is not None and spec.origin is not None and spec.loader is not None
    with open(spec.origin, encoding="utf-8") as f:
        src = f.read()
    head, tail = src.split("class FaultClass", 1)
    lines = head.split("\n")
    last = max(i for i, ln in enumerate(lines) if re.match(r'    [A-Z_]+ = "', ln))
    lines.insert(last + 1, NEW_MEMBER)
    src = "\n".join(lines) + "class FaultClass" + tail
    end = "\n}\n\nALL_KINDS"
    assert src.count(end) == 1
    src = src.replace(end, "\n" + NEW_ROW + "}\n\nALL_KINDS")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    exec(compile(src, spec.origin, "exec"), module.__dict__)


def main(argv: list[str]) -> None:
    if "--patch" in argv:
        _load_patched_kinds()
    import mfm_scenarios  # noqa: F401

    from mfm_sim import simulate
    from mfm_sim.faults.kinds import ALL_KINDS
    from mfm_sim.faults.swarm import FaultConfig
    from mfm_sim.run.scenario import get_scenario
    from mfm_sim.world.rng import Streams

    scenarios, seeds = argv[1].split(","), range(int(argv[2]))
    out: dict[str, list[object]] = {}
    for name in scenarios:
        scenario = get_scenario(name)
        for seed in seeds:
            r = simulate(scenario, seed, keep_trace=False)
            kinds = FaultConfig.draw(Streams(seed), ALL_KINDS).kinds
            on = any(k.value == "test_only" for k in kinds)
            out[f"{name}:{seed}"] = [r.digest, [f.kind.value for f in r.schedule.faults], on]
    print(json.dumps(out))


if __name__ == "__main__":
    main(sys.argv)
