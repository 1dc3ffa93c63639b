"""`mfm-sim merge`: the JSON reports of disjoint sweeps (`--shard I/N`) as one report; exit 1
if the merged sweep has a failing schedule, 3 if it has none but is partial (a shard was
interrupted or lost seeds to dying workers: no verdict on them)."""

from __future__ import annotations

import json
from pathlib import Path

import click

from mfm_sim.cli.options import bad, check_writable, write_output
from mfm_sim.cli.status import EXIT_HARNESS, EXIT_VIOLATION

__all__ = ["merge"]


@click.command()
@click.argument("reports", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option(
    "--json",
    "json_path",
    default=None,
    metavar="FILE",
    help="Write the merged report to FILE (the format of `mfm-sim run --json`).",
)
def merge(reports: tuple[str, ...], json_path: str | None) -> int:
    """Merge `mfm-sim run --json` reports of disjoint shards into one; exit 1 on a failure.

    The result is the report one machine would have written for all the seeds (apart from
    timing). Reports of other versions or options, or of overlapping seeds, are refused. A
    partial shard (interrupted, or seeds lost to dying workers) makes the merge partial:
    exit 3 when nothing failed.
    """
    from mfm_sim.report.merge import MergeError, Shard, merge_reports

    check_writable(json_path, "--json")
    shards = [Shard(path, _load(path)) for path in reports]
    try:
        merged = merge_reports(shards)
    except MergeError as exc:
        bad("REPORTS", str(exc))
    if json_path:
        write_output(json_path, json.dumps(merged, indent=2) + "\n", "--json")
    for f in merged["failures"][:10]:
        click.echo(f"FAIL {f['scenario']} seed {f['seed']}: {f['invariant']}: {f['message']}")
        click.echo(f"  replay: {f['replay']}")
    seeds = merged["seeds"]
    click.echo(
        f"merged {len(shards)} reports: seeds {seeds['spec']} ({seeds['run']} of "
        f"{seeds['planned']} run), {merged['schedules']} schedules"
    )
    if merged["partial"]:
        click.echo(f"PARTIAL: {merged['partial_reason']}")
    if not merged["ok"]:
        click.echo(f"{merged['failing']} failing schedules")
        return EXIT_VIOLATION
    if merged["partial"]:  # seeds a shard did not run: no verdict on them
        return EXIT_HARNESS
    click.echo(f"ok: {merged['schedules']} schedules, no violations")
    return 0


def _load(path: str) -> dict[str, object]:
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        bad("REPORTS", f"cannot read {path}: {exc.strerror or exc}")
    except (ValueError, UnicodeDecodeError) as exc:
        bad("REPORTS", f"{path} is not JSON: {exc}")
    if not isinstance(data, dict):
        bad("REPORTS", f"{path} is not an mfm-sim run report (a JSON object)")
    return data
