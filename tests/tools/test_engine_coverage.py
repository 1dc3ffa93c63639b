"""tools/engine_coverage.py measures the engine's branches under the product's own sweep."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_a_small_sweep_reports_every_behaviour_module(tmp_path: Path) -> None:
    out = tmp_path / "cov.json"
    done = subprocess.run(
        [sys.executable, str(ROOT / "tools" / "engine_coverage.py"), "--seeds", "3",
         "--scenario", "linear", "--jobs", "1", "--json", str(out)],
        capture_output=True, text=True, timeout=300, cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode in (0, 1), done.stderr
    assert "sweep shard: ok: 3 schedules, no violations" in done.stdout
    report = json.loads(out.read_text())
    assert "runtime/engine.py" in report and "config.py" in report
    engine = report["runtime/engine.py"]
    assert 0 < engine["covered"] < engine["branches"]  # a tiny sweep cannot take them all
    assert len(engine["missing"]) == engine["branches"] - engine["covered"]
    assert "not taken: engine/runtime/engine.py:" in done.stdout
    # Of config.py only compute_backoff counts: a handful of branches, not the parsers'.
    assert report["config.py"]["branches"] <= 6
    assert not (tmp_path / ".mfm-sim").exists()  # the user's failure database is not touched


def test_bad_input_is_a_usage_error() -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / "tools" / "engine_coverage.py"), "--seeds", "0"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 2
    assert "--seeds and --jobs must be at least 1" in done.stderr
