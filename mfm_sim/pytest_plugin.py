"""pytest plugin: run a user's plan under fault schedules (`mfm_sim` fixture, --mfm-seeds, --mfm-seed)."""

from __future__ import annotations

import pytest


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("mfm-sim", "deterministic simulation of mfm engine runs")
    group.addoption("--mfm-seeds", type=int, default=None, help="schedules per mfm_sim check (ini: mfm_seeds)")
    group.addoption("--mfm-seed", default=None, help="reproduce one schedule by its seed")
    parser.addini("mfm_seeds", "schedules per mfm_sim check", default="100")
