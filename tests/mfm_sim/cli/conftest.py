"""Fixtures of the CLI tests."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest


@pytest.fixture(autouse=True)
def _restore_collector() -> Iterator[None]:
    # `mfm-sim run` tunes the collector of its own process, here the test runner's.
    threshold = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*threshold)
