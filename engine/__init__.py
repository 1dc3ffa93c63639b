"""mfm_machine v4 execution engine, ported to asyncio. Knows nothing of any simulator."""

from engine import hashing
from engine.config import (
    BuildProvenance,
    EventProfile,
    ExecutionMode,
    Exponential,
    FanOutJoin,
    Fixed,
    IoMode,
    RetryPolicy,
    RunConfig,
    RunManifest,
    compute_backoff,
)
from engine.context import JsonContext, StagedContext
from engine.errors import (
    ContextError,
    ErrorCategory,
    ErrorInfo,
    IoError,
    RunError,
    RunErrorKind,
    StateError,
    StorageError,
)
from engine.events import (
    DomainEvent,
    EventEnvelope,
    RunCompleted,
    RunPhase,
    RunStarted,
    RunStatus,
    StateCompleted,
    StateEntered,
    StateFailed,
)
from engine.live_io import IoCall, LiveIoEnv, NamespaceRouter, RouterTransportFactory
from engine.meta import Idempotency, SideEffectKind, StateMeta
from engine.plan import (
    DependencyEdge,
    ExecutionPlan,
    PlanResolver,
    PlanValidationError,
    StateGraph,
    StateNode,
    StaticPlanResolver,
)
from engine.runtime import (
    ChildRunLiveIoTransportFactory,
    DefaultExecutionEngine,
    EngineFailpoints,
    RunResult,
    StartRun,
)
from engine.state import FnState, State, StateOutcome
from engine.stores import (
    ArtifactKind,
    ArtifactStore,
    EventStore,
    InMemoryArtifactStore,
    InMemoryEventStore,
    Stores,
)

__all__ = [
    "ArtifactKind", "ArtifactStore", "BuildProvenance", "ChildRunLiveIoTransportFactory",
    "ContextError", "DefaultExecutionEngine", "DependencyEdge", "DomainEvent", "EngineFailpoints",
    "ErrorCategory", "ErrorInfo", "EventEnvelope", "EventProfile", "EventStore", "ExecutionMode",
    "ExecutionPlan", "Exponential", "FanOutJoin", "Fixed", "FnState", "Idempotency", "InMemoryArtifactStore",
    "InMemoryEventStore", "IoCall", "IoError", "IoMode", "JsonContext", "LiveIoEnv", "NamespaceRouter",
    "PlanResolver", "PlanValidationError", "RetryPolicy", "RouterTransportFactory", "RunCompleted",
    "RunConfig", "RunError", "RunErrorKind", "RunManifest", "RunPhase", "RunResult", "RunStarted",
    "RunStatus", "SideEffectKind", "StagedContext", "StartRun", "State", "StateCompleted",
    "StateEntered", "StateError", "StateFailed", "StateGraph", "StateMeta", "StateNode",
    "StateOutcome", "StaticPlanResolver", "StorageError", "Stores", "compute_backoff", "hashing",
]
