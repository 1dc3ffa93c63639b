"""A ready issue body (markdown) for the first failure a CI gate found."""

from __future__ import annotations

import json
import platform
from collections.abc import Sequence

import attrs

from mfm_sim.report.summary import Failure, ReplayOptions, package_version
from mfm_sim.run.schedule import ScheduleFile

__all__ = ["MAX_LISTED", "IssueContext", "issue_body"]

MAX_LISTED = 10  # failures named in the body (the first in full, the others one line each)


@attrs.frozen
class IssueContext:
    """Where the failures were found: what a reader needs besides the failures themselves."""

    commit: str | None
    seed_start: int  # the sweep's first seed
    variant: str | None = None  # the engine variant the first failure ran under (None: real)


def issue_body(
    failures: Sequence[Failure],
    total: int,
    context: IssueContext,
    shrunk: ScheduleFile,
    note: str,
) -> str:
    """Markdown for `failures[0]` (seed, commit, Python, invariant, digest, the replay commands,
    the shrunk schedule with the variant and digest its replay must reproduce), then the
    others; `total` counts the failures not kept too."""
    f = failures[0]
    r = f.result
    first = r.violations[0]
    options = ReplayOptions(context.variant)
    py = f"{platform.python_implementation()} {platform.python_version()}"
    variant_row = (
        [f"| engine variant | `{context.variant}` (deliberately broken) |"]
        if context.variant
        else []
    )
    lines = [
        f"## mfm-sim gate: `{first.invariant}` violated in `{r.scenario}` (seed {r.seed})",
        "",
        "| | |",
        "| --- | --- |",
        f"| seed | `{r.seed}` |",
        f"| scenario | `{r.scenario}` |",
        f"| invariant | `{first.invariant}` |",
        f"| digest | `{r.digest}` |",
        f"| commit | `{context.commit or 'unknown'}` |",
        f"| Python | {py} |",
        f"| mfm-sim | {package_version()} |",
        *variant_row,
        f"| sweep | seeds from `{context.seed_start}` |",
        "",
        "### Violation",
        "",
        "```",
        *(v.describe() for v in r.violations),
        "```",
        "",
        "### Reproduce",
        "",
        "```sh",
        f.replay,
        f"{options.command(r.scenario, r.seed, 'shrunk.json', shrunk.variant)} --timeline",
        options.python_command(r.scenario, r.seed, f.schedule_file),
        "```",
        "",
        f"### Shrunk schedule ({note})",
        "",
        "Save as `shrunk.json` (or commit it to `ci/corpus/` once fixed):",
        "",
        "```json",
        json.dumps(shrunk.to_json(), indent=2, sort_keys=True),
        "```",
    ]
    others = failures[1:MAX_LISTED]
    if others:
        lines += ["", "### Other failures", ""]
        for o in others:
            v = o.result.violations[0]
            lines.append(
                f"- `{o.result.scenario}` seed `{o.result.seed}`: `{v.invariant}`: {v.message}"
            )
        if total > 1 + len(others):
            lines.append(f"- ... and {total - 1 - len(others)} more")
    return "\n".join(lines) + "\n"
