"""The simulated market: open interest, mark price and 24h volume moving second by second.

Each symbol owns a random stream seeded from (seed, symbol) and is stepped lazily, one step per
simulated second, only when someone looks at it. The value at any second is therefore the same
whoever asks and however often, so a run is reproducible from the seed alone. Scripted events
(scenario) are applied at their exact step.
"""

from __future__ import annotations

import hashlib
import math
import random
from collections.abc import Callable

import attrs

from volspike_oi.sim.binance.catalog import SymbolSpec, make_spec
from volspike_oi.sim.binance.scenario import (
    NO_EVENTS,
    Delisting,
    Listing,
    OiChange,
    QuoteVolumeChange,
    Scenario,
    ScenarioError,
    SetFaults,
)
from volspike_oi.sim.clock import SimClock
from volspike_oi.sim.faults import Faults

OI_SIGMA_PER_S = 0.00008
"""Per-second log-sd of open interest: ~0.5 % an hour, so 5 % alerts need a real (scripted) move."""
MARK_SIGMA_PER_S = 0.0002
"""Per-second log-sd of the mark price: ~1.2 % an hour."""
VOLUME_SIGMA_PER_MIN = 0.02
"""Per-minute log-sd of 24h quote volume: ~15 % an hour, so symbols near 2M/4M drift across."""
VOLUME_REVERSION_PER_MIN = 1 / 360
"""Pull of 24h quote volume back to its anchor (a 6 h half-life scale)."""
HIST_PERIOD_MS = 300_000
"""openInterestHist's finest period; the market records a snapshot at each boundary."""


def _symbol_seed(seed: int, symbol: str) -> int:
    digest = hashlib.blake2b(f"{seed}:{symbol}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big")


@attrs.define
class SymbolState:
    """One contract's moving values, valid as of simulated second `step`."""

    spec: SymbolSpec
    rng: random.Random
    step: int
    open_interest: float
    mark_price: float
    quote_volume_24h: float
    volume_anchor: float
    start_open_price: float
    funding_rate: float
    listed_step: int
    oi_factors: dict[int, float] = attrs.Factory(dict)
    """Scripted multiplicative OI moves by step."""
    volume_targets: dict[int, float] = attrs.Factory(dict)
    """Scripted 24h quote volume levels by step."""
    snapshots: list[tuple[int, float, float]] = attrs.Factory(list)
    """(epoch ms, OI, mark) at every 5-minute boundary since the symbol started moving."""


class Market:
    """All contracts of the simulated exchange and the clock they move on."""

    def __init__(
        self,
        catalog: list[SymbolSpec],
        clock: SimClock,
        seed: int,
        scenario: Scenario = NO_EVENTS,
        on_faults: Callable[[Faults], None] | None = None,
    ) -> None:
        self.clock = clock
        self.seed = seed
        self.symbols: dict[str, SymbolState] = {}
        self.coin_margined: dict[str, SymbolState] = {}
        for spec in catalog:
            self._add(spec, listed_step=0)
        self.version = 0
        """Bumped whenever the listing changes, so cached exchangeInfo bodies can be reused."""
        self._on_faults = on_faults
        self._pending: list[Listing | Delisting | SetFaults] = []
        self._deferred: dict[str, list[tuple[OiChange | QuoteVolumeChange, int]]] = {}
        """Scripted moves of symbols that a later listing brings in."""
        self._apply_scenario(scenario)

    # -- set-up ----------------------------------------------------------------------------------

    def _add(self, spec: SymbolSpec, listed_step: int) -> SymbolState:
        rng = random.Random(_symbol_seed(self.seed, spec.symbol))
        state = SymbolState(
            spec=spec,
            rng=rng,
            step=listed_step,
            open_interest=spec.open_interest,
            mark_price=spec.mark_price,
            quote_volume_24h=spec.quote_volume_24h,
            volume_anchor=spec.quote_volume_24h,
            start_open_price=spec.mark_price * math.exp(rng.gauss(0, 0.03)),
            funding_rate=round(rng.gauss(0.0001, 0.00008), 8),
            listed_step=listed_step,
        )
        (self.coin_margined if spec.coin_margined else self.symbols)[spec.symbol] = state
        return state

    def _apply_scenario(self, scenario: Scenario) -> None:
        listed = set(self.symbols)
        for event in scenario.events:
            step = math.ceil(event.at_s)
            if isinstance(event, Listing):
                if event.symbol in listed:
                    raise ScenarioError(f"listing of {event.symbol}: the symbol already exists")
                listed.add(event.symbol)
                self._pending.append(event)
            elif isinstance(event, OiChange | QuoteVolumeChange | Delisting):
                if event.symbol not in listed:
                    raise ScenarioError(
                        f"{type(event).__name__} names unknown symbol {event.symbol}"
                    )
                if isinstance(event, Delisting):
                    self._pending.append(event)
                else:
                    self._pending_symbol_event(event, step)
            else:
                self._pending.append(event)
        self._pending.sort(key=lambda e: e.at_s)

    def _pending_symbol_event(self, event: OiChange | QuoteVolumeChange, step: int) -> None:
        # Events for symbols listed later are attached when the listing happens.
        state = self.symbols.get(event.symbol)
        if state is None:
            self._deferred.setdefault(event.symbol, []).append((event, step))
            return
        if isinstance(event, OiChange):
            n = max(1, math.ceil(event.over_s))
            factor = (1 + event.pct / 100) ** (1 / n)
            for k in range(step, step + n):
                state.oi_factors[k] = state.oi_factors.get(k, 1.0) * factor
        else:
            state.volume_targets[step] = event.usdt

    # -- time ------------------------------------------------------------------------------------

    def sync(self, now_ms: int) -> None:
        """Apply listings, delistings and fault changes that are due by `now_ms`."""
        while self._pending and self.clock.start_epoch_ms + self._pending[0].at_s * 1000 <= now_ms:
            event = self._pending.pop(0)
            step = math.ceil(event.at_s)
            if isinstance(event, Listing):
                rng = random.Random(_symbol_seed(self.seed, "listing:" + event.symbol))
                spec = make_spec(
                    event.symbol,
                    base=event.symbol.removesuffix("USDT"),
                    mark_price=event.mark_price,
                    quote_volume_24h=event.quote_volume_usdt,
                    onboard_ms=self.clock.start_epoch_ms + step * 1000,
                    rng=rng,
                )
                self._add(spec, listed_step=step)
                for deferred, at in self._deferred.pop(event.symbol, []):
                    self._pending_symbol_event(deferred, at)
                self.version += 1
            elif isinstance(event, Delisting):
                state = self.symbols.get(event.symbol)
                if state is not None:
                    # Move it up to the delisting second first: it freezes there, not at
                    # whenever someone last happened to look at it.
                    self.advance(state, step)
                    state.spec.status = "SETTLING"
                    state.spec.delivery_ms = self.clock.start_epoch_ms + step * 1000
                    if event.remove:
                        del self.symbols[event.symbol]
                    self.version += 1
            elif self._on_faults is not None:
                self._on_faults(event.faults)

    def at(self, symbol: str, now_ms: int) -> SymbolState | None:
        """The listed symbol's state advanced to `now_ms`, or None if it is not listed."""
        state = self.symbols.get(symbol)
        if state is None:
            return None
        self.advance(state, self.clock.step_at(now_ms))
        return state

    def advance_all(self, now_ms: int) -> None:
        step = self.clock.step_at(now_ms)
        for state in self.symbols.values():
            self.advance(state, step)
        for state in self.coin_margined.values():
            self.advance(state, step)

    def advance(self, state: SymbolState, to_step: int) -> None:
        if to_step <= state.step:
            return
        gauss = state.rng.gauss
        oi, mark, qv = state.open_interest, state.mark_price, state.quote_volume_24h
        anchor = state.volume_anchor
        factors, targets = state.oi_factors, state.volume_targets
        start_ms = self.clock.start_epoch_ms
        frozen = state.spec.status != "TRADING"
        for k in range(state.step + 1, to_step + 1):
            if not frozen:
                oi *= 1.0 + gauss(0.0, OI_SIGMA_PER_S)
                mark *= 1.0 + gauss(0.0, MARK_SIGMA_PER_S)
                if k % 60 == 0:
                    log_qv = math.log(max(qv, 1.0))
                    log_qv += VOLUME_REVERSION_PER_MIN * (math.log(max(anchor, 1.0)) - log_qv)
                    qv = math.exp(log_qv + gauss(0.0, VOLUME_SIGMA_PER_MIN))
            if factors and k in factors:
                oi *= factors.pop(k)
            if targets and k in targets:
                qv = anchor = targets.pop(k)
            ms = start_ms + k * 1000
            if ms % HIST_PERIOD_MS == 0:
                state.snapshots.append((ms, oi, mark))
        state.open_interest, state.mark_price, state.quote_volume_24h = oi, mark, qv
        state.volume_anchor = anchor
        state.step = to_step

    # -- history before the simulator started ------------------------------------------------

    def synthetic_history(self, state: SymbolState, at_ms: int) -> tuple[float, float]:
        """(OI, mark) at a 5-minute boundary before the symbol started moving.

        A smooth deterministic wobble of a few percent around the starting values, equal to
        them at the start, so a backfill joins the live series without a jump.
        """
        phase = _symbol_seed(self.seed, "hist:" + state.spec.symbol) % 10_000 / 10_000 * math.tau
        start_ms = self.clock.start_epoch_ms + state.listed_step * 1000

        def wobble(ms: int) -> float:
            h = ms / 3_600_000
            return 0.012 * math.sin(h / 1.7 + phase) + 0.006 * math.sin(h / 0.37 + 2 * phase)

        w = wobble(at_ms) - wobble(start_ms)
        return state.spec.open_interest * math.exp(w), state.spec.mark_price * math.exp(w / 2)
