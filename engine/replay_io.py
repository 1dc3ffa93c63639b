"""Replay IO: answers only from recorded facts; never reaches a transport."""

from __future__ import annotations

from typing import Any

from mfm_engine.config import RunConfig
from mfm_engine.errors import ErrorCategory, IoErrorKind
from mfm_engine.live_io import (
    NOT_RECORDED,
    FactIndex,
    IoCall,
    _IoBase,
    io_error,
    recorded_now_millis,
    recorded_random_bytes,
)
from mfm_engine.stores import Stores


class ReplayIo(_IoBase):
    def __init__(
        self,
        stores: Stores,
        facts: FactIndex,
        run_id: Any,
        state_id: str,
        attempt: int,
        run_config: RunConfig,
    ) -> None:
        super().__init__(stores, facts, run_id, state_id, attempt)
        self._retryable = run_config.replay_missing_fact_retryable

    async def _require(self, key: str) -> Any:
        recorded = await self._recorded(key)
        if recorded is NOT_RECORDED:
            raise io_error(
                IoErrorKind.MISSING_FACT,
                "missing_fact",
                ErrorCategory.RPC,
                f"replay has no recorded fact for key {key!r}",
                retryable=self._retryable,
            )
        return recorded

    async def call(self, call: IoCall) -> Any:
        if call.fact_key is None:
            raise io_error(
                IoErrorKind.MISSING_FACT_KEY,
                "missing_fact_key",
                ErrorCategory.PARSING_INPUT,
                f"replay mode needs a fact key for a call to {call.namespace}",
            )
        return await self._require(call.fact_key)

    async def now_millis(self) -> int:
        key = self._next_key("now_millis")
        return recorded_now_millis(key, await self._require(key))

    async def random_bytes(self, n: int) -> bytes:
        key = self._next_key("random_bytes")
        return recorded_random_bytes(key, await self._require(key), n)
