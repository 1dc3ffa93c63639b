"""Which faults fire where: BUGGIFY-style sites, budgets and replay. The injector numbers every
fault point (the step that replay and schedules name), and `Injector.advance` is the only
place that number moves.

Each fault kind decides with its own stream (`faults:<kind>`): its site activations, its draw
at every fault point where it is on, its arguments. A kind added to the table therefore
changes no existing seed's schedule unless it fires."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from mfm_sim.faults.kinds import FAULTS, SITE_KINDS, Fault, FaultKind
from mfm_sim.faults.swarm import FaultConfig
from mfm_sim.world.rng import Rng, Streams

__all__ = ["SETUP_STEP", "Injector", "fault_stream"]

K = FaultKind
SETUP_STEP = 0  # faults at setup, before the first fault point, are numbered 0
# One site's switched-on kinds, in table order: (rate, kind, that kind's draw).
_Active = tuple[tuple[float, FaultKind, Callable[[], float]], ...]


def fault_stream(streams: Streams, kind: FaultKind) -> Rng:
    """The stream of one kind's decisions: site activations, per-call draws, arguments."""
    return streams.stream(f"faults:{kind.value}")


class Injector:
    """Decides, at each fault point, whether a fault fires. Every decision is counted as a step.

    With `schedule` it replays exactly those faults at those steps and draws nothing.
    `streams` gives each kind its own stream; a single `Rng` (tests) is shared by every kind.
    """

    def __init__(
        self,
        streams: Streams | Rng,
        config: FaultConfig | None,
        schedule: Iterable[Fault] | None = None,
    ) -> None:
        self._streams = streams
        self._rngs: dict[FaultKind, Rng] = {}
        self._config = config
        self._scripted: dict[int, Fault] | None = None
        if schedule is not None:
            self._scripted = {f.step: f for f in schedule}
        self.step = 0
        self.fired: list[Fault] = []
        self._paused = False
        # None: unrestricted mode, where faults never stop.
        self.budget: int | None = config.budget if config is not None else 0
        self._active: dict[str, _Active] = {}
        self.incarnation = 0
        self.now_ns = lambda: 0
        self._sites: list[str] | None = None
        # True while a fault point can only count its step: nothing can fire and nothing is
        # recorded. The store wrappers test it inline, so such a call costs no call here.
        self.quiet = self._is_quiet()

    def _is_quiet(self) -> bool:
        if self._scripted is not None or self._sites is not None:
            return False
        exhausted = self.budget is not None and self.budget <= 0
        # A swarm with no kind on (a fault-free run) can fire nothing at `decide`: every
        # site's candidates are empty, so nothing is drawn there either.
        return self._paused or self._config is None or not self._config.rates or exhausted

    @property
    def paused(self) -> bool:
        """While paused (a fault-free incarnation) steps are counted and nothing fires."""
        return self._paused

    @paused.setter
    def paused(self, value: bool) -> None:
        self._paused = value
        self.quiet = self._is_quiet()

    @property
    def sites(self) -> list[str] | None:
        """When set, the site of every step (crash-point enumeration)."""
        return self._sites

    @sites.setter
    def sites(self, value: list[str] | None) -> None:
        self._sites = value
        self.quiet = self._is_quiet()

    @property
    def exhausted(self) -> bool:
        """True once no more faults can fire: the liveness phase has begun."""
        if self._paused:
            return True
        if self._scripted is not None:
            return not any(step > self.step for step in self._scripted)
        return self._config is None or (self.budget is not None and self.budget <= 0)

    def _candidates(self, site: str) -> list[tuple[FaultKind, float]]:
        """The swarm's (kind, rate) pairs a site can suffer, in the order of the draws.

        Each site asks once per schedule (`_activate` caches its outcome), so it is not kept.
        """
        assert self._config is not None
        applicable = SITE_KINDS[site]
        return [(k, r) for k, r in self._config.rates if k in applicable]

    def advance(self) -> int:
        """Count one fault point and return its step: the one place the step moves, so a
        schedule's steps (which replay keys on) mean the same in every run."""
        self.step += 1
        return self.step

    def _count(self, site: str) -> tuple[bool, Fault | None]:
        """Count a fault point. (settled, scripted fault): settled when paused or replaying a
        schedule, where nothing is drawn; then the fault is the schedule's for this step."""
        self.advance()
        if self._sites is not None:
            self._sites.append(site)
        if self._paused:
            return True, None
        if self._scripted is not None:
            fault = self._scripted.get(self.step)
            return True, fault if fault is not None and fault.site == site else None
        return False, None

    def decide(self, site: str, *, target: str | None = None, size: int = 1) -> Fault | None:
        if self.quiet:
            self.advance()
            return None
        # The hot path of every store call: a random run with nothing to record skips `_count`.
        if self._paused or self._scripted is not None or self._sites is not None:
            settled, scripted = self._count(site)
            if settled:
                if scripted is None:
                    return None
                return self._fire(scripted.kind, site, scripted.arg, target)
        else:
            self.advance()
        config = self._config
        if config is None or (self.budget is not None and self.budget <= 0):
            return None
        active = self._active.get(site)
        if active is None:
            active = self._active[site] = self._activate(site)
        if not active:
            return None
        # Every switched-on kind draws at every point, from its own stream, whether or not an
        # earlier one fires: no kind's draws depend on another's. The first in table order
        # that fires, with an argument that fits the call, is the fault.
        chosen = None
        for rate, kind, random in active:
            if random() < rate and chosen is None:
                args = FAULTS[kind].args
                if args.high_for(size) >= args.low:  # else no argument fits this call
                    chosen = kind
        if chosen is None:
            return None
        return self._fire(chosen, site, self._draw_arg(chosen, size), target)

    def _rng(self, kind: FaultKind) -> Rng:
        rng = self._rngs.get(kind)
        if rng is None:
            streams = self._streams
            rng = fault_stream(streams, kind) if isinstance(streams, Streams) else streams
            self._rngs[kind] = rng
        return rng

    def _activate(self, site: str) -> _Active:
        """BUGGIFY: on first reach, each of the site's enabled kinds is switched on or off."""
        assert self._config is not None
        activation = self._config.activation
        active = []
        for kind, rate in self._candidates(site):
            random = self._rng(kind).random
            if FAULTS[kind].always_active or random() < activation:
                active.append((rate, kind, random))
        return tuple(active)

    def decide_user(self, site: str, draw: Callable[[], bool]) -> Fault | None:
        """A user's fault point (`buggify`): a counted step like any other, so a schedule
        holds its firings and replays them; `draw` decides only in a random run."""
        settled, scripted = self._count(site)
        if settled:
            return None if scripted is None else self._fire(scripted.kind, site, 0, None)
        config = self._config
        if config is None or K.BUGGIFY not in config.kinds:
            return None
        if self.budget is not None and self.budget <= 0:
            return None
        if not draw():
            return None
        return self._fire(K.BUGGIFY, site, 0, None)

    def decide_setup(self, site: str, rng: Rng | None = None) -> Fault | None:
        """A fault at setup, before any step: each kind draws from its own `faults:setup:<kind>`
        stream (or `rng`), so no step's draws shift."""
        if self._scripted is not None:
            fault = self._scripted.get(SETUP_STEP)
            if fault is None or fault.site != site:
                return None
            return self._fire_at(SETUP_STEP, fault.kind, site, fault.arg, None)
        config = self._config
        if config is None or self._paused:
            return None
        streams = self._streams
        for kind, rate in self._candidates(site):
            if rng is not None:
                kind_rng = rng
            elif isinstance(streams, Streams):
                kind_rng = streams.stream(f"faults:setup:{kind.value}")
            else:
                kind_rng = streams
            if kind_rng.random() < config.activation and kind_rng.random() < rate:
                return self._fire_at(SETUP_STEP, kind, site, 0, None)
        return None

    def _draw_arg(self, kind: FaultKind, size: int) -> int:
        args = FAULTS[kind].args
        if args.fixed:
            return args.low
        return args.low + self._rng(kind).below(args.high_for(size) - args.low + 1)

    def _fire(self, kind: FaultKind, site: str, arg: int, target: str | None) -> Fault:
        return self._fire_at(self.step, kind, site, arg, target)

    def _fire_at(
        self, step: int, kind: FaultKind, site: str, arg: int, target: str | None
    ) -> Fault:
        fault = Fault(step, kind, site, arg, self.incarnation, self.now_ns(), target)
        self.fired.append(fault)
        if self.budget is not None and self.budget > 0:
            self.budget -= 1
            if self.budget == 0:
                self.quiet = self._is_quiet()
        return fault
