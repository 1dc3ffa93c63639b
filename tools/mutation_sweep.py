"""The test command for mutation testing: a fixed, deterministic sim sweep.

Runs every registered scenario (``all_scenarios()``, so scenarios added for mutation gaps are
included) on seeds ``0..N-1`` and exits

* 0 if every schedule passed all invariants,
* 1 on the first invariant violation (the 13 built-in ones plus the supplementary oracles
  of ``tools/mutation_checks.py``) OR the first exception of any kind (a mutant that makes
  the engine -- or the harness observing it -- crash is killed),

printing one line saying which (scenario, seed) killed it. The set of (scenario, seed) pairs
is fixed, so the verdict for a given engine source is deterministic.

    python tools/mutation_sweep.py            # 60 seeds per scenario, stop at first failure
    python tools/mutation_sweep.py --seeds 80 --all   # do not stop at the first failure

Timeouts (a mutant that turns a loop into an infinite one) are the caller's job: run it
under ``timeout`` or through ``tools/mutate.py``, which applies a per-mutant limit.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import traceback

DEFAULT_SEEDS = 60

# `python tools/mutation_sweep.py` from the project root (or from mutmut's `mutants/` copy).
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def sweep(seeds: int, stop_first: bool = True, verbose: bool = False) -> int:
    from mfm_sim import simulate
    from mfm_sim.run.scenario import all_scenarios
    from tools.mutation_checks import sweep_violations

    failures = 0
    schedules = 0
    t0 = time.perf_counter()
    for scenario in sorted(all_scenarios(), key=lambda s: s.name):
        for seed in range(seeds):
            schedules += 1
            try:
                result = simulate(scenario, seed, keep_trace=False, keep_observation=True)
                violations = [str(v) for v in result.violations] + sweep_violations(result)
            except BaseException as exc:
                if isinstance(exc, KeyboardInterrupt):
                    raise
                failures += 1
                print(f"KILLED {scenario.name} seed {seed}: exception {type(exc).__name__}: {exc}")
                if verbose:
                    traceback.print_exc()
                if stop_first:
                    return 1
                continue
            if violations:
                failures += 1
                print(f"KILLED {scenario.name} seed {seed}: violation {violations[0][:300]}")
                if stop_first:
                    return 1
    dt = time.perf_counter() - t0
    print(f"sweep: {schedules} schedules, {failures} failing, {dt:.2f}s")
    return 1 if failures else 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", type=int, default=DEFAULT_SEEDS, help="seeds per scenario")
    p.add_argument("--all", action="store_true", help="do not stop at the first failure")
    p.add_argument("-v", "--verbose", action="store_true", help="print tracebacks")
    args = p.parse_args(argv)
    return sweep(args.seeds, stop_first=not args.all, verbose=args.verbose)


if __name__ == "__main__":
    sys.exit(main())
