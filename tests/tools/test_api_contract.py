"""The engine-API oracle (`tools/api_contract.py`): silent on the engine, loud on each defect.

Each defect is the behaviour of a surviving mutant from docs/mutation.md, put into the real
engine with `monkeypatch`; the oracle must name the case it breaks.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from types import ModuleType
from typing import Any

import pytest
from mfm_engine.errors import (
    ContextError,
    ContextErrorKind,
    ErrorCategory,
    RunError,
    RunErrorKind,
    StateError,
    StorageError,
    StorageErrorKind,
    info,
)
from mfm_engine.live_io import LiveIo, LiveIoEnv
from mfm_engine.recorder import EventRecorder
from mfm_engine.replay_io import ReplayIo
from mfm_engine.runtime import DefaultExecutionEngine, EngineFailpoints, RunResult
from mfm_engine.sources import SystemEntropy

from mfm_sim.run.scenario import all_scenarios, get_scenario
from mfm_sim.world.rng import Streams
from tools.api_contract import OTHER_RUN_ID, _Checks, api_violations, first_backoff_ms

ENGINE: ModuleType = importlib.import_module("mfm_engine.runtime.engine")
ATTEMPT: ModuleType = importlib.import_module("mfm_engine.runtime.attempt")
HISTORY: ModuleType = importlib.import_module("mfm_engine.runtime.history")


def _seed_where(scenario: str, wanted: Callable[[_Checks], bool]) -> int:
    """The first seed whose instance of `scenario` lets the oracle see the defect."""
    for seed in range(200):
        if wanted(_Checks(get_scenario(scenario).build(Streams(seed).stream("scenario")))):
            return seed
    raise AssertionError(f"no seed of {scenario} fits")


def _any_seed(checks: _Checks) -> bool:
    return True


def _minimal(checks: _Checks) -> bool:
    return checks.probe_cfg.event_profile.value == "minimal"


def _waits(checks: _Checks) -> bool:
    return first_backoff_ms(checks.timed_cfg.retry_policy.backoff) > 0


@pytest.mark.parametrize("name", sorted(s.name for s in all_scenarios()))
def test_silent_on_the_engine(name: str) -> None:
    for seed in range(3):
        assert api_violations(name, seed) == [], (name, seed)


def _upper_codes(code: str, message: str, category: ErrorCategory = ErrorCategory.UNKNOWN) -> Any:
    return RunError(RunErrorKind.INVALID_PLAN, info(code.upper(), category, message))


def _lower_messages(
    code: str, message: str, category: ErrorCategory = ErrorCategory.UNKNOWN
) -> Any:
    return RunError(RunErrorKind.INVALID_PLAN, info(code, category, message.lower()))


def _storage_other(kind: Any, code: str, message: str, *, retryable: bool = False) -> Any:
    return StorageError(
        StorageErrorKind.OTHER, info(code, ErrorCategory.STORAGE, message, retryable=retryable)
    )


def _context_other(kind: Any, code: str, message: str) -> Any:
    return ContextError(ContextErrorKind.OTHER, info(code, ErrorCategory.CONTEXT, message))


def _patch_init(monkeypatch: pytest.MonkeyPatch, **override: Any) -> None:
    real = DefaultExecutionEngine.__init__

    def init(self: DefaultExecutionEngine, *args: Any, **kw: Any) -> None:
        real(self, *args, **kw)
        for name, value in override.items():
            setattr(self, name, value)

    monkeypatch.setattr(DefaultExecutionEngine, "__init__", init)


def _wrap(module: ModuleType, name: str, change: Callable[[list[Any]], None]) -> Callable[..., Any]:
    real = getattr(module, name)

    def wrapped(*args: Any) -> Any:
        changed = list(args)
        change(changed)
        return real(*changed)

    return wrapped


def _set(index: int, value: Any) -> Callable[[list[Any]], None]:
    def change(args: list[Any]) -> None:
        args[index] = value

    return change


def _copy_state_errors(exc: Exception) -> Any:
    # What `_execute` sees is a copy: filling in its state id never reaches the handler's error.
    return StateError(exc.info) if isinstance(exc, StateError) else None


def _start_at(delay: bool) -> Callable[..., Any]:
    real = ENGINE._StartAt

    def make(state_id: str, attempt: int, base: str, delay_first: bool = False) -> Any:
        return real(state_id, attempt, base, delay)

    return make


def _unmemoized(plan: Any) -> Any:
    return list(ENGINE.topological_order(plan))


# (defect, how to put it in, which seeds show it, what the oracle must say)
DEFECTS: list[tuple[str, Callable[[pytest.MonkeyPatch], None], Callable[[_Checks], bool], str]] = [
    (
        "refusal codes changed",
        lambda mp: mp.setattr(ENGINE, "invalid_plan", _upper_codes),
        _any_seed,
        "unsupported_execution_mode: code 'UNSUPPORTED_EXECUTION_MODE'",
    ),
    (
        "history refusal messages changed",
        lambda mp: mp.setattr(HISTORY, "invalid_plan", _lower_messages),
        _any_seed,
        "missing_run_started: message 'missing runstarted kernel event'",
    ),
    (
        "storage refusal kind lost",
        lambda mp: mp.setattr(ENGINE, "storage", _storage_other),
        _any_seed,
        "manifest_not_found: wrapped StorageError kind StorageErrorKind.OTHER",
    ),
    (
        "manifest decode kind lost",
        lambda mp: mp.setattr(ENGINE, "context", _context_other),
        _any_seed,
        "manifest_deserialize_failed: wrapped ContextError kind ContextErrorKind.OTHER",
    ),
    (
        "start contract not validated",
        lambda mp: mp.setattr(ENGINE, "validate_start_run_contract", lambda run: None),
        _any_seed,
        "manifest_float: returned",
    ),
    (
        "failpoint never clears",
        lambda mp: mp.setattr(
            EngineFailpoints, "should_stop_after_handler", lambda self: self.stop_after_handler_once
        ),
        _any_seed,
        "live_run: the failpoint was not cleared",
    ),
    (
        "failpoints dropped",
        lambda mp: _patch_init(mp, failpoints=None),
        _any_seed,
        "live_run: start with stop_after_handler_once returned",
    ),
    (
        "entropy replaced by the OS",
        lambda mp: _patch_init(mp, entropy=SystemEntropy()),
        _any_seed,
        "not from its entropy",
    ),
    (
        "results without the run id",
        lambda mp: mp.setattr(ENGINE, "RunResult", lambda r, p, s: RunResult(None, p, s)),  # type: ignore[arg-type]
        _any_seed,
        "resume of the finished run returned RunResult(run_id=None",
    ),
    (
        "recorder ignores the profile",
        lambda mp: mp.setattr(ATTEMPT, "EventRecorder", lambda profile: EventRecorder(None)),  # type: ignore[arg-type]
        _minimal,
        "probe_note events under EventProfile.MINIMAL",
    ),
    (
        "transport env without the attempt",
        lambda mp: mp.setattr(ATTEMPT, "LiveIoEnv", _wrap(ATTEMPT, "LiveIoEnv", _set(2, None))),
        _any_seed,
        "live_run: transport envs for",
    ),
    (
        "live IO keyed by another run",
        lambda mp: mp.setattr(ATTEMPT, "LiveIo", _wrap(ATTEMPT, "LiveIo", _set(2, OTHER_RUN_ID))),
        _any_seed,
        "live_run: derived fact key",
    ),
    (
        "replay keyed by no attempt",
        lambda mp: mp.setattr(ATTEMPT, "ReplayIo", _wrap(ATTEMPT, "ReplayIo", _set(4, None))),
        _any_seed,
        "replay_run: resume returned",
    ),
    (
        "handler error's state id not filled",
        lambda mp: mp.setattr(ATTEMPT, "_handler_error", _copy_state_errors),
        _any_seed,
        "failed_run: handler errors carry state ids [None, 'probe.preset.state']",
    ),
    (
        "backoff before retrying a logged failure",
        lambda mp: mp.setattr(ENGINE, "_StartAt", _start_at(True)),
        _waits,
        "resume_failed_state_no_backoff: the retry was entered at",
    ),
    (
        "no backoff before retrying an orphan",
        lambda mp: mp.setattr(ENGINE, "_StartAt", _start_at(False)),
        _waits,
        "resume_orphan_backoff: the retry was entered at 0 ms",
    ),
    (
        "plan ordered twice per call",
        lambda mp: mp.setattr(ENGINE, "validated_order", _unmemoized),
        _any_seed,
        "plan_order: start ordered the plan 2 times (want 1)",
    ),
]


@pytest.mark.parametrize(
    ("patch", "wanted", "says"), [d[1:] for d in DEFECTS], ids=[d[0] for d in DEFECTS]
)
def test_names_each_defect(
    monkeypatch: pytest.MonkeyPatch,
    patch: Callable[[pytest.MonkeyPatch], None],
    wanted: Callable[[_Checks], bool],
    says: str,
) -> None:
    seed = _seed_where("linear", wanted)
    patch(monkeypatch)
    found = api_violations("linear", seed)
    assert any(says in v for v in found), found


def test_the_classes_the_defects_replace_are_the_engine_s() -> None:
    # Guards the patches above: they only mean something while the engine uses these names.
    assert ATTEMPT.LiveIo is LiveIo and ATTEMPT.LiveIoEnv is LiveIoEnv
    assert ATTEMPT.ReplayIo is ReplayIo and ATTEMPT.EventRecorder is EventRecorder
    assert ENGINE.RunResult is RunResult
