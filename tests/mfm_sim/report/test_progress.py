"""The sweep's progress in plain lines: every tenth, and the last, each once."""

from __future__ import annotations

import pytest

from mfm_sim.report.progress import Progress


def test_plain_lines_every_ten_percent_and_at_the_end(capsys: pytest.CaptureFixture[str]) -> None:
    with Progress(20, "sweep") as progress:
        assert progress.plain  # captured stderr is not a terminal
        for done in range(1, 21):
            progress(done, 20, done // 10)
    lines = capsys.readouterr().err.splitlines()
    assert lines[0] == "sweep: 2/20 schedules (10%), 0 failing"
    assert lines[-1] == "sweep: 20/20 schedules (100%), 2 failing"
    assert len(lines) == 10


def test_a_sweep_of_nothing_reports_once(capsys: pytest.CaptureFixture[str]) -> None:
    with Progress(0, "sweep") as progress:
        progress(0, 0, 0)
    assert capsys.readouterr().err == "sweep: 0/0 schedules (0%), 0 failing\n"
