"""Error values and exceptions, with the original engine's codes and categories."""

from __future__ import annotations

import enum
from typing import Any

import attrs


class ErrorCategory(enum.Enum):
    PARSING_INPUT = "parsing_input"
    ON_CHAIN = "on_chain"
    OFF_CHAIN = "off_chain"
    RPC = "rpc"
    STORAGE = "storage"
    CONTEXT = "context"
    UNKNOWN = "unknown"


@attrs.frozen
class ErrorInfo:
    code: str
    category: ErrorCategory
    retryable: bool
    message: str
    details: Any = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "code": self.code,
            "category": self.category.value,
            "retryable": self.retryable,
            "message": self.message,
        }
        if self.details is not None:
            out["details"] = self.details
        return out

    @classmethod
    def from_json(cls, value: Any) -> ErrorInfo:
        try:
            return cls(
                code=str(value["code"]),
                category=ErrorCategory(value["category"]),
                retryable=bool(value["retryable"]),
                message=str(value["message"]),
                details=value.get("details"),
            )
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise ValueError(f"malformed error info: {exc}") from None


def info(
    code: str,
    category: ErrorCategory,
    message: str,
    *,
    retryable: bool = False,
    details: Any = None,
) -> ErrorInfo:
    return ErrorInfo(code, category, retryable, message, details)


class EngineError(Exception):
    """Base of the engine's typed errors; every one carries an `ErrorInfo`."""

    info: ErrorInfo

    def __init__(self, info: ErrorInfo) -> None:
        super().__init__(f"{info.code}: {info.message}")
        self.info = info

    @property
    def code(self) -> str:
        return self.info.code


class StorageErrorKind(enum.Enum):
    CONCURRENCY = "concurrency"
    NOT_FOUND = "not_found"
    CORRUPTION = "corruption"
    OTHER = "other"


class ContextErrorKind(enum.Enum):
    MISSING_KEY = "missing_key"
    SERIALIZATION = "serialization"
    OTHER = "other"


class IoErrorKind(enum.Enum):
    MISSING_FACT_KEY = "missing_fact_key"
    MISSING_FACT = "missing_fact"
    TRANSPORT = "transport"
    RATE_LIMITED = "rate_limited"
    OTHER = "other"


class RunErrorKind(enum.Enum):
    INVALID_PLAN = "invalid_plan"
    STORAGE = "storage"
    CONTEXT = "context"
    IO = "io"
    STATE = "state"
    OTHER = "other"


class StorageError(EngineError):
    def __init__(self, kind: StorageErrorKind, info: ErrorInfo) -> None:
        super().__init__(info)
        self.kind = kind


class ContextError(EngineError):
    def __init__(self, kind: ContextErrorKind, info: ErrorInfo) -> None:
        super().__init__(info)
        self.kind = kind


class IoError(EngineError):
    def __init__(self, kind: IoErrorKind, info: ErrorInfo) -> None:
        super().__init__(info)
        self.kind = kind


class StateError(EngineError):
    """Raised by a state's handler to fail the attempt; `info.retryable` decides retries."""

    def __init__(self, info: ErrorInfo, state_id: str | None = None) -> None:
        super().__init__(info)
        self.state_id = state_id


class RunError(EngineError):
    """What `start`/`resume` raise: the kind of failure and the underlying error's info."""

    def __init__(self, kind: RunErrorKind, info: ErrorInfo) -> None:
        super().__init__(info)
        self.kind = kind

    def __repr__(self) -> str:
        return f"RunError({self.kind.name}, {self.info.code!r})"


_RUN_KIND_FOR = {
    StorageError: RunErrorKind.STORAGE,
    ContextError: RunErrorKind.CONTEXT,
    IoError: RunErrorKind.IO,
    StateError: RunErrorKind.STATE,
}


def as_run_error(err: EngineError) -> RunError:
    """Wrap a typed engine error as the `RunError` that start/resume raise."""
    if isinstance(err, RunError):
        return err
    return RunError(_RUN_KIND_FOR.get(type(err), RunErrorKind.OTHER), err.info)


def storage(
    kind: StorageErrorKind,
    code: str,
    message: str,
    *,
    retryable: bool = False,
    details: Any = None,
) -> StorageError:
    return StorageError(
        kind, info(code, ErrorCategory.STORAGE, message, retryable=retryable, details=details)
    )


def corruption(code: str, message: str, details: Any = None) -> StorageError:
    """What a store's read-back that fails a check is: bytes or records it must not have held."""
    return storage(StorageErrorKind.CORRUPTION, code, message, details=details)


def context(kind: ContextErrorKind, code: str, message: str) -> ContextError:
    return ContextError(kind, info(code, ErrorCategory.CONTEXT, message))


def invalid_plan(
    code: str, message: str, category: ErrorCategory = ErrorCategory.UNKNOWN
) -> RunError:
    return RunError(RunErrorKind.INVALID_PLAN, info(code, category, message))
