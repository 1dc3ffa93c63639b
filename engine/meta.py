"""What a state declares about itself: tags, side effects, idempotency."""

from __future__ import annotations

import enum

import attrs


class SideEffectKind(enum.Enum):
    PURE = "pure"
    READ_ONLY_IO = "read_only_io"
    APPLICATION_STATE_WRITE = "application_state_write"
    EXTERNAL_STATE_WRITE = "external_state_write"


class Idempotency(enum.Enum):
    NONE = "none"
    KEYED = "keyed"
    NATURAL = "natural"


@attrs.frozen
class StateMeta:
    tags: tuple[str, ...] = attrs.field(default=(), converter=tuple)
    side_effects: SideEffectKind = SideEffectKind.PURE
    idempotency: Idempotency = Idempotency.NONE
    idempotency_key: str | None = None
