"""What a state is: metadata plus an async handler over a context, IO and an event recorder."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Protocol

import attrs
from mfm_engine.meta import StateMeta


@attrs.frozen
class StateOutcome:
    """Optional handler return value; `None` means the same as `StateOutcome()`."""

    note: str | None = None


class State(Protocol):
    def meta(self) -> StateMeta: ...

    async def handle(self, ctx: Any, io: Any, events: Any) -> StateOutcome | None: ...


Handler = Callable[[Any, Any, Any], Awaitable[StateOutcome | None]]


@attrs.frozen
class FnState:
    """A state made from an async function, for plans written inline."""

    handler: Handler
    state_meta: StateMeta = attrs.field(factory=StateMeta)

    def meta(self) -> StateMeta:
        return self.state_meta

    async def handle(self, ctx: Any, io: Any, events: Any) -> StateOutcome | None:
        return await self.handler(ctx, io, events)
