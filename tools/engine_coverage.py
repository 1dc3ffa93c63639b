"""Branch coverage of the engine's behaviour modules under the product's own sweep.

    python tools/engine_coverage.py [--seeds 1000] [--scenario all] [--jobs 2] [--json FILE]

Runs `mfm-sim run --scenario S --seeds N` (split over `--jobs` shards, each in its own process
under coverage.py with branch measurement) and reports, for every engine behaviour module, the
branches the sweep took, and lists each branch it never took with its source line. Nothing but
the product's sweep drives the engine: no test, no extra check. Exit 0 when every module meets
`--target` (percent), 1 otherwise, 2 on bad input.

The behaviour modules are `runtime/*`, `live_io`, `replay_io`, `context`, `hashing`,
`envelopes`, `plan`, `recorder`, and of `config` only the backoff (`compute_backoff`).
"""

from __future__ import annotations

import argparse
import ast
import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
ENGINE = ROOT / "engine"
MODULES = (
    "runtime/engine.py",
    "runtime/attempt.py",
    "runtime/writer.py",
    "runtime/history.py",
    "runtime/child_runs.py",
    "live_io.py",
    "replay_io.py",
    "context.py",
    "hashing.py",
    "envelopes.py",
    "plan.py",
    "recorder.py",
    "config.py",
)
# Of these modules, only these functions are behaviour (the rest is data classes and parsing).
ONLY = {"config.py": ("compute_backoff",)}


def _function_lines(path: Path, names: tuple[str, ...]) -> set[int]:
    lines: set[int] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name in names:
            lines.update(range(node.lineno, (node.end_lineno or node.lineno) + 1))
    return lines


def _sweep(seeds: int, scenario: str, jobs: int, data_dir: Path) -> None:
    procs = []
    for i in range(1, jobs + 1):
        cmd = [
            sys.executable, "-m", "coverage", "run", "--branch", "--parallel-mode",
            f"--data-file={data_dir / '.coverage'}", f"--source={ENGINE}",
            "-m", "mfm_sim", "run", "--scenario", scenario, "--seeds", str(seeds),
            "--shard", f"{i}/{jobs}", "--jobs", "1",
            # A measuring run neither replays nor saves the user's failing schedules.
            "--failures-dir", str(data_dir / "failures"),
        ]  # fmt: skip
        procs.append(subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE))
    for proc in procs:
        out, err = proc.communicate()
        if proc.returncode not in (0, 1):  # 1: a violation, which the sweep itself reports
            sys.stderr.write(err.decode(errors="replace")[-3000:])
            raise SystemExit(f"engine_coverage: the sweep exited {proc.returncode}")
        last = out.decode(errors="replace").strip().splitlines()[-1:]
        print(f"  sweep shard: {last[0] if last else '(no output)'}")


def measure(seeds: int, scenario: str, jobs: int) -> dict[str, Any]:
    import coverage  # a dev dependency; only this tool needs it

    with tempfile.TemporaryDirectory(prefix="mfm-cov-") as tmp:
        data_dir = Path(tmp)
        _sweep(seeds, scenario, jobs, data_dir)
        cov = coverage.Coverage(data_file=str(data_dir / ".coverage"), branch=True)
        cov.combine(data_paths=[str(data_dir)])
        report: dict[str, Any] = {}
        for rel in MODULES:
            path = ENGINE / rel
            analysis = cov._analyze(str(path))  # one file's branch arcs (no public equivalent)
            keep = _function_lines(path, ONLY[rel]) if rel in ONLY else None
            stats = {
                line: counts
                for line, counts in analysis.branch_stats().items()
                if keep is None or line in keep
            }
            missing = sorted(
                (line, to)
                for line, tos in analysis.missing_branch_arcs().items()
                if line in stats
                for to in tos
            )
            total = sum(t for t, _ in stats.values())
            source = path.read_text(encoding="utf-8").splitlines()
            report[rel] = {
                "branches": total,
                "covered": total - len(missing),
                "missing": [
                    {"from": a[0], "to": a[1], "line": source[a[0] - 1].strip()} for a in missing
                ],
            }
        return report


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=1000)
    parser.add_argument("--scenario", default="all")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--target", type=float, default=97.0)
    parser.add_argument("--json", dest="json_path", default=None)
    args = parser.parse_args(argv)
    if args.seeds < 1 or args.jobs < 1:
        parser.error("--seeds and --jobs must be at least 1")
    print(f"mfm-sim run --scenario {args.scenario} --seeds {args.seeds}, under coverage:")
    report = measure(args.seeds, args.scenario, args.jobs)
    short = True
    print(f"{'module':28} {'branches':>8} {'covered':>8} {'%':>7}")
    for rel, row in report.items():
        pct = 100.0 * row["covered"] / row["branches"] if row["branches"] else 100.0
        row["percent"] = round(pct, 1)
        short = short and pct >= args.target
        print(f"engine/{rel:21} {row['branches']:8} {row['covered']:8} {pct:6.1f}%")
    for rel, row in report.items():
        for m in row["missing"]:
            print(f"  not taken: engine/{rel}:{m['from']} -> {m['to']}  {m['line']}")
    if args.json_path:
        Path(args.json_path).write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")
    print("every module meets the target" if short else f"below {args.target}% somewhere")
    return 0 if short else 1


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
