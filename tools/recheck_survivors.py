"""Re-run the sweep on mutmut's surviving mutants only (fast loop while closing gaps).

    mutmut results > /tmp/results.txt   # after `mutmut run`
    python tools/recheck_survivors.py /tmp/results.txt [--jobs N]

Runs ``mutants/tools/mutation_sweep.py`` under ``MUTANT_UNDER_TEST=<name>`` for each listed
mutant (one at a time unless ``--jobs``; 60 s limit each) and prints
``<name> killed|survived|timeout``.
Copy changed tools/ and scenarios/ files into mutants/ first (mutmut does so on `mutmut run`).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def check(name: str) -> tuple[str, str, str]:
    env = dict(os.environ, MUTANT_UNDER_TEST=name)
    try:
        p = subprocess.run(
            [sys.executable, "tools/mutation_sweep.py"],
            cwd=os.path.join(ROOT, "mutants"),
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
    except subprocess.TimeoutExpired:
        return name, "timeout", ""
    return name, "killed" if p.returncode else "survived", (p.stdout + p.stderr).strip()[-300:]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("results", help="the output of `mutmut results`")
    p.add_argument("--jobs", type=int, default=1, help="mutants checked at once")
    args = p.parse_args(argv)
    with open(args.results) as f:
        names = [ln.strip().split(":")[0] for ln in f if ln.strip().endswith("survived")]
    with ThreadPoolExecutor(args.jobs) as ex:
        for name, verdict, out in ex.map(check, names):
            print(name, verdict, out.replace("\n", " | ")[:200], flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
