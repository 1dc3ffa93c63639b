"""Where the engine gets time, randomness and run ids. A simulator passes its own.

These defaults are the only places the engine touches the wall clock, the OS entropy pool
and uuid4; everything else reaches them through the objects given to the engine.
"""

from __future__ import annotations

import os
import time
import uuid
from typing import Protocol


class Clock(Protocol):
    def now_millis(self) -> int: ...


class Entropy(Protocol):
    def random_bytes(self, n: int) -> bytes: ...


class IdSource(Protocol):
    def new_run_id(self) -> uuid.UUID: ...


class SystemClock:
    def now_millis(self) -> int:
        return time.time_ns() // 1_000_000


class SystemEntropy:
    def random_bytes(self, n: int) -> bytes:
        return os.urandom(n)


class Uuid4Ids:
    def new_run_id(self) -> uuid.UUID:
        return uuid.uuid4()
