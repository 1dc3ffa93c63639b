"""Write a failing schedule out as a pytest regression test."""

from __future__ import annotations

import json
import platform
import re

from mfm_sim.run.result import SimResult
from mfm_sim.run.schedule import Schedule

__all__ = ["regression_test", "test_name"]


def test_name(schedule: Schedule, invariant: str | None) -> str:
    base = f"test_{schedule.scenario}_seed_{schedule.seed}"
    if invariant:
        base += f"_{invariant}"
    return re.sub(r"\W", "_", base)


def regression_test(
    schedule: Schedule,
    result: SimResult,
    *,
    version: str,
    variant: str | None = None,
    shrunk: bool = False,
    replay: str | None = None,
) -> str:
    """Python source of a pytest module that replays `schedule` and asserts no violations.

    `result` is the replay that failed (its violations and digest are recorded in the file
    for reference); `replay` is the command that reproduces it (`ReplayOptions.command`).
    """
    first = result.violations[0] if result.violations else None
    invariant = first.invariant if first else None
    payload = json.dumps(schedule.to_json(), indent=4, sort_keys=True)
    literal = f"r'''{payload}'''"
    if "'''" in payload or "\\" in payload:  # not in any schedule so far; stay correct anyway
        literal = repr(json.dumps(schedule.to_json(), sort_keys=True))
    lines = [
        f'"""Regression test for {schedule.scenario} seed {schedule.seed}'
        + (f" ({invariant})" if invariant else "")
        + ".",
        "",
        "Written by `mfm-sim replay --emit-test`"
        + (" from the shrunk schedule" if shrunk else "")
        + f" (mfm-sim {version}, Python {platform.python_version()}).",
        *(
            ["", "Reproduce the failure (its digest is RECORDED_DIGEST):", "", f"    {replay}"]
            if replay
            else []
        ),
        '"""',
        "",
        "import json",
        "",
        "from mfm_sim import Schedule, get_scenario, simulate",
        "",
        f"SCHEDULE = json.loads({literal})",
        "",
        "# What the failing replay recorded (for reference; a fix is expected to change them).",
        f"RECORDED_DIGEST = {result.digest!r}",
        f"RECORDED_INVARIANT = {invariant!r}",
        "RECORDED_VIOLATIONS = [",
        *[f"    {v.describe()!r}," for v in result.violations],
        "]",
    ]
    if variant is not None:
        lines += [
            f"# Found with the deliberately broken engine variant {variant!r}; this test runs",
            "# the real engine, on which it is expected to pass.",
        ]
    lines += [
        "",
        "",
        f"def {test_name(schedule, invariant)}():",
        "    schedule = Schedule.from_json(SCHEDULE)",
        "    result = simulate(get_scenario(schedule.scenario), schedule.seed, schedule=schedule)",
        "    # This test asserts the schedule breaks NO invariant: it fails while the bug is",
        "    # there (with RECORDED_INVARIANT) and passes once the engine is fixed.",
        "    assert not result.violations, '\\n'.join(v.describe() for v in result.violations)",
        "",
    ]
    return "\n".join(lines)
