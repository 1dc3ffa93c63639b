"""The README's library-user walkthrough runs verbatim from a non-editable install: a fresh
virtual environment, `pip install .`, the ten-line test saved in a directory outside the
checkout, then `pytest` on it and `python -m mfm_sim.examples`. About a minute: one test."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()


def _ten_line_test() -> str:
    section = README.split("### A ten-line test", 1)[1]
    return section.split("```python\n", 1)[1].split("```", 1)[0]


def _run(*argv: str | Path, cwd: Path) -> str:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    done = subprocess.run(
        [str(a) for a in argv], cwd=cwd, env=env, capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, f"{argv}\n{done.stdout}\n{done.stderr}"
    return done.stdout


def test_the_readme_walkthrough_runs_from_a_pip_install(tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    _run(sys.executable, "-m", "venv", venv, cwd=tmp_path)
    python = venv / "bin" / "python"
    _run(python, "-m", "pip", "install", "-q", str(ROOT), "pytest", cwd=tmp_path)
    user = tmp_path / "project"
    user.mkdir()
    (user / "test_payments.py").write_text(_ten_line_test())
    # Nothing of the checkout is importable from here: the installed package is what runs.
    where = _run(python, "-c", "import mfm_sim; print(mfm_sim.__file__)", cwd=user)
    assert str(ROOT) not in where and "site-packages" in where
    # Verbatim: the README's command, with the default number of schedules.
    out = _run(python, "-m", "pytest", "test_payments.py", cwd=user)
    assert "1 passed, 1 xfailed" in out
    assert "test_payments.py::test_charge_is_crash_safe: 100 schedules" in out
    out = _run(python, "-m", "mfm_sim.examples", cwd=user)
    assert "1 passed, 1 xfailed" in out
    # The failing schedule went to the user's directory, not into site-packages.
    assert list((user / ".mfm-sim" / "failures").glob("test_payments.py_*.json"))
