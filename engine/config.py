"""Run configuration, retry/backoff policy and the run manifest, with stable JSON forms."""

from __future__ import annotations

import enum
import functools
from collections.abc import Callable
from datetime import timedelta
from typing import Any, TypeVar

import attrs
from mfm_engine.ids import op_id


class IoMode(enum.Enum):
    LIVE = "live"
    REPLAY = "replay"


class EventProfile(enum.Enum):
    MINIMAL = "minimal"
    NORMAL = "normal"
    VERBOSE = "verbose"
    CUSTOM = "custom"


_ONE_MS = timedelta(milliseconds=1)


def _millis(d: timedelta) -> int:
    return d // _ONE_MS


_E = TypeVar("_E", bound=enum.Enum)


def _by_value(cls: type[_E]) -> Callable[[Any], _E]:
    """`cls(value)` through a plain dict: a manifest is decoded on every resume, and an enum
    call costs several Python frames. Anything the table lacks gets `cls(value)`'s own error."""
    table = {member.value: member for member in cls}

    def lookup(value: Any) -> _E:
        try:
            return table[value]
        except (KeyError, TypeError):
            return cls(value)

    return lookup


@functools.lru_cache(maxsize=256)
def _ms(millis: int) -> timedelta:
    return timedelta(milliseconds=millis)  # few distinct values: one object each


@attrs.frozen
class Fixed:
    delay: timedelta = timedelta(0)

    def to_json(self) -> dict[str, Any]:
        return {"kind": "fixed", "delay_ms": _millis(self.delay)}


@attrs.frozen
class Exponential:
    base_delay: timedelta
    max_delay: timedelta

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": "exponential",
            "base_delay_ms": _millis(self.base_delay),
            "max_delay_ms": _millis(self.max_delay),
        }


Backoff = Fixed | Exponential


def backoff_from_json(value: Any) -> Backoff:
    kind = value["kind"]
    if kind == "fixed":
        return Fixed(_ms(int(value["delay_ms"])))
    if kind == "exponential":
        return Exponential(_ms(int(value["base_delay_ms"])), _ms(int(value["max_delay_ms"])))
    raise ValueError(f"unknown backoff kind {kind!r}")


def compute_backoff(policy: Backoff, attempt: int) -> timedelta:
    """Fixed: the delay. Exponential: `min(base * 2**min(attempt, 31), max_delay)`."""
    if isinstance(policy, Fixed):
        return policy.delay
    try:
        scaled = policy.base_delay * (1 << min(attempt, 31))
    except OverflowError:  # the original saturates; saturated is above any max_delay
        return policy.max_delay
    return policy.max_delay if scaled > policy.max_delay else scaled


@attrs.frozen
class RetryPolicy:
    max_attempts: int = 3
    backoff: Backoff = Fixed()

    def to_json(self) -> dict[str, Any]:
        return {"max_attempts": self.max_attempts, "backoff": self.backoff.to_json()}


class ExecutionMode(enum.Enum):
    SEQUENTIAL = "sequential"


_io_mode = _by_value(IoMode)
_event_profile = _by_value(EventProfile)
_execution_mode = _by_value(ExecutionMode)


@attrs.frozen
class FanOutJoin:
    """Accepted as configuration; refused at run time with `unsupported_execution_mode`."""

    max_concurrency: int = 1

    def to_json(self) -> dict[str, Any]:
        return {"kind": "fan_out_join", "max_concurrency": self.max_concurrency}


def _mode_to_json(mode: ExecutionMode | FanOutJoin) -> Any:
    if isinstance(mode, FanOutJoin):
        return mode.to_json()
    return {"kind": mode._value_}


def _mode_from_json(value: Any) -> ExecutionMode | FanOutJoin:
    if value["kind"] == "fan_out_join":
        return FanOutJoin(int(value["max_concurrency"]))
    return _execution_mode(value["kind"])


@attrs.frozen
class RunConfig:
    io_mode: IoMode = IoMode.LIVE
    retry_policy: RetryPolicy = RetryPolicy()
    event_profile: EventProfile = EventProfile.NORMAL
    execution_mode: ExecutionMode | FanOutJoin = ExecutionMode.SEQUENTIAL
    skip_tags: tuple[str, ...] = attrs.field(default=(), converter=tuple)
    replay_missing_fact_retryable: bool = False

    def to_json(self) -> dict[str, Any]:
        # `_value_`, the member's own attribute: `.value` is a Python-level descriptor, and a
        # run config is encoded into every manifest the engine checks.
        return {
            "io_mode": self.io_mode._value_,
            "retry_policy": self.retry_policy.to_json(),
            "event_profile": self.event_profile._value_,
            "execution_mode": _mode_to_json(self.execution_mode),
            "skip_tags": list(self.skip_tags),
            "replay_missing_fact_retryable": self.replay_missing_fact_retryable,
        }

    @classmethod
    def from_json(cls, value: Any) -> RunConfig:
        rp = value["retry_policy"]
        return cls(
            io_mode=_io_mode(value["io_mode"]),
            retry_policy=RetryPolicy(int(rp["max_attempts"]), backoff_from_json(rp["backoff"])),
            event_profile=_event_profile(value["event_profile"]),
            execution_mode=_mode_from_json(value["execution_mode"]),
            skip_tags=tuple(value.get("skip_tags", ())),
            replay_missing_fact_retryable=bool(value.get("replay_missing_fact_retryable", False)),
        )


@attrs.frozen
class BuildProvenance:
    git_commit: str | None = None
    cargo_lock_hash: str | None = None
    flake_lock_hash: str | None = None
    rustc_version: str | None = None
    target_triple: str | None = None
    env_allowlist: tuple[str, ...] = attrs.field(default=(), converter=tuple)

    def to_json(self) -> dict[str, Any]:
        return {
            "git_commit": self.git_commit,
            "cargo_lock_hash": self.cargo_lock_hash,
            "flake_lock_hash": self.flake_lock_hash,
            "rustc_version": self.rustc_version,
            "target_triple": self.target_triple,
            "env_allowlist": list(self.env_allowlist),
        }

    @classmethod
    def from_json(cls, value: Any) -> BuildProvenance:
        return cls(
            value.get("git_commit"),
            value.get("cargo_lock_hash"),
            value.get("flake_lock_hash"),
            value.get("rustc_version"),
            value.get("target_triple"),
            tuple(value.get("env_allowlist", ())),
        )


@attrs.frozen
class RunManifest:
    op_id: str
    op_version: str
    input_params: Any
    run_config: RunConfig
    build: BuildProvenance = BuildProvenance()

    def to_json(self) -> dict[str, Any]:
        return {
            "op_id": self.op_id,
            "op_version": self.op_version,
            "input_params": self.input_params,
            "run_config": self.run_config.to_json(),
            "build": self.build.to_json(),
        }

    @classmethod
    def from_json(cls, value: Any) -> RunManifest:
        """A manifest of its JSON form; an invalid op id is `RunError` `invalid_op_id`."""
        return cls(
            op_id=op_id(value["op_id"]),
            op_version=str(value["op_version"]),
            input_params=value["input_params"],
            run_config=RunConfig.from_json(value["run_config"]),
            build=BuildProvenance.from_json(value.get("build", {})),
        )
