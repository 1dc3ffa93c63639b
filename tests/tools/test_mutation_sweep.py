"""The mutation test command (`tools/test_mutation_sweep.py`): `mfm-sim run` per scenario,
through the CLI in this process. Silent on the engine; a broken engine fails it, through the
product's own invariants (the checks it once ran on the side are invariants now)."""

from __future__ import annotations

from pathlib import Path

import pytest
from mfm_engine.errors import ErrorCategory, StateError, info
from mfm_engine.runtime import attempt

from mfm_sim.run.scenario import all_scenarios
from tools.test_mutation_sweep import GENERATED_SEEDS, SEEDS, run_sweep


def test_every_scenario_passes_a_short_sweep(tmp_path: Path) -> None:
    for scenario in all_scenarios():
        code, output = run_sweep(scenario.name, 3, tmp_path / scenario.name)
        assert code == 0, output[-1000:]
        assert "ok: 3 schedules, no violations" in output
    assert SEEDS >= 20 and GENERATED_SEEDS >= SEEDS  # the test command's fixed seed counts


def test_a_handler_exception_that_loses_its_type_fails_the_sweep(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = attempt._handler_error

    def untyped(exc: Exception) -> StateError | None:
        err = real(exc)
        if err is None or err.info.code != "handler_exception":
            return err
        return StateError(info("handler_exception", ErrorCategory.UNKNOWN, str(exc) or "boom"))

    monkeypatch.setattr(attempt, "_handler_error", untyped)
    code, output = run_sweep("handler_exceptions", 12, tmp_path / "failures")
    assert code == 1, output[-1000:]
    assert "log_contract" in output and "does not name the exception" in output
    # The failing schedules were saved in the given database, not the project's default.
    assert any((tmp_path / "failures").iterdir())


def test_each_sweep_starts_with_the_memos_of_a_fresh_process() -> None:
    from mfm_engine import hashing, read_back
    from mfm_engine.runtime import engine as runtime_engine

    from tools.test_mutation_sweep import fresh_process_memos

    hashing.string_has_secret("twelve words of nothing at all")
    read_back.mark_canonical("a" * 64)
    runtime_engine._last_order = ("plan", ())  # type: ignore[assignment]
    fresh_process_memos()
    assert hashing._secret_verdicts == {}
    assert read_back._validated == {}
    assert runtime_engine._last_order is None
