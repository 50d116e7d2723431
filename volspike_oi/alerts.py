"""OI spike/dump rules: baseline, thresholds, cooldown, escalation and plateau; pure, no I/O.

Seed 001 §5: baseline = median of the samples 60–30 min ago (configurable); `pct` and `abs`
compare the newest sample with it, on contracts (a pure price move with flat contracts is not
an OI move). An alert needs |pct| over its threshold and |abs| valued at the current mark price
over a USD minimum (one contract of BTC and of a penny coin are worlds apart), plus an optional
contract minimum; a window with too few samples gives no verdict, never a 0 %. Each (symbol,
direction) fires at most once per cooldown, and until the move falls back below half its
threshold it fires again only when it has grown by one more threshold: escalation alerts, a
plateau does not.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from typing import Literal, get_args

import attrs

Direction = Literal["UP", "DOWN"]

Verdict = Literal[
    "fired",
    "no_move",
    "insufficient_baseline",
    "contracts_gate",
    "usd_gate",
    "unknown_mark_price",
    "cooldown",
    "plateau",
    "not_liquid",
]
"""What became of one judged sample. `no_move` is below the percentage threshold; the gates
name the rule that held back a move over it; `not_liquid` is a move of a symbol outside the
liquid universe that would have fired (FR-OI-ALERT-1: only the universe alerts)."""
SUPPRESSIONS: tuple[Verdict, ...] = tuple(
    v for v in get_args(Verdict) if v not in ("fired", "no_move")
)
"""The verdicts counted as suppressed alerts (all but `fired` and `no_move`)."""

Gate = Literal["contracts_gate", "usd_gate", "unknown_mark_price"]


@attrs.frozen
class AlertRules:
    spike_pct: float = 0.05
    """UP when (now − baseline)/baseline ≥ this (OI_SPIKE_THRESHOLD_PCT)."""
    dump_pct: float = 0.05
    """DOWN when (now − baseline)/baseline ≤ −this (OI_DUMP_THRESHOLD_PCT)."""
    min_delta_contracts: float = 0.0
    """|now − baseline| must also reach this many contracts (OI_MIN_DELTA_CONTRACTS; 0 = off)."""
    min_delta_usd: float = 250_000.0
    """…and this many USD at the current mark price (OI_MIN_DELTA_USD; 0 = off). With a USD
    minimum, a sample without a mark price cannot reach it: no alert."""
    baseline_from_s: float = 3600.0
    """The baseline window starts this long before the newest sample (60 min)."""
    baseline_to_s: float = 1800.0
    """…and ends this long before it (30 min)."""
    min_samples: int = 3
    min_coverage: float = 0.5
    """The window's samples must span at least this share of the window."""
    cooldown_s: float = 900.0
    rearm_fraction: float = 0.5
    """A fired direction re-arms once the move falls back below this share of its threshold."""


@attrs.frozen
class Baseline:
    value: float | None
    """Median contracts in the window, or None when the window cannot give a verdict."""
    samples: int
    reason: str = ""


def baseline(window: Sequence[tuple[float, float]], rules: AlertRules) -> Baseline:
    """The median of `window` (time, contracts) samples, if they are enough to trust."""
    if len(window) < rules.min_samples:
        return Baseline(None, len(window), f"insufficient baseline: {len(window)} samples")
    span = window[-1][0] - window[0][0]
    needed = rules.min_coverage * (rules.baseline_from_s - rules.baseline_to_s)
    if span < needed:
        return Baseline(None, len(window), f"insufficient baseline: samples span {span:.0f} s")
    value = statistics.median(oi for _, oi in window)
    if value <= 0:
        return Baseline(None, len(window), "baseline is zero")
    return Baseline(value, len(window))


@attrs.frozen
class Move:
    pct_change: float
    abs_change: float
    direction: Direction | None
    """The direction whose thresholds the move reaches, if any (before cooldown)."""
    current: float
    """Contracts now."""
    blocked_by: Gate | None = None
    """The gate that held back a move over its percentage threshold."""


def measure(current: float, base: float, mark_price: float | None, rules: AlertRules) -> Move:
    pct = (current - base) / base
    delta = current - base
    if pct >= rules.spike_pct:
        wanted: Direction | None = "UP"
    elif pct <= -rules.dump_pct:
        wanted = "DOWN"
    else:
        return Move(pct, delta, None, current)
    blocked: Gate | None = None
    if abs(delta) < rules.min_delta_contracts:
        blocked = "contracts_gate"
    elif rules.min_delta_usd > 0 and mark_price is None:
        blocked = "unknown_mark_price"
    elif rules.min_delta_usd > 0 and abs(delta) * (mark_price or 0.0) < rules.min_delta_usd:
        blocked = "usd_gate"
    return Move(pct, delta, None if blocked else wanted, current, blocked)


@attrs.frozen
class Fired:
    """The last alert of one (symbol, direction)."""

    at: float
    next_level: float
    """Contracts the move must reach (UP: ≥, DOWN: ≤) to fire again before it re-arms: the
    fired level plus one more threshold of that alert's baseline (+6 % → +11 %)."""


def next_level(direction: Direction, current: float, base: float, rules: AlertRules) -> float:
    if direction == "UP":
        return current + rules.spike_pct * base
    return current - rules.dump_pct * base


@attrs.define
class AlertGate:
    """Cooldown, escalation and plateau state per (symbol, direction)."""

    fired: dict[tuple[str, Direction], Fired] = attrs.Factory(dict)
    held: set[tuple[str, Direction]] = attrs.Factory(set)
    """Fired and not yet fallen back below rearm_fraction × threshold: fires again only on
    escalation to `Fired.next_level`."""

    def restore(self, symbol: str, direction: Direction, fired: Fired) -> None:
        """An alert fired before a restart: held until the move falls back (the next sample
        tells), so a move already alerted is not alerted again."""
        key = (symbol, direction)
        known = self.fired.get(key)
        if known is None or fired.at >= known.at:
            self.fired[key] = fired
            self.held.add(key)

    def decide(self, symbol: str, move: Move, now: float, rules: AlertRules) -> Verdict:
        """`fired` when `move` should be alerted now; updates the state either way."""
        if move.pct_change < rules.spike_pct * rules.rearm_fraction:
            self.held.discard((symbol, "UP"))
        if move.pct_change > -rules.dump_pct * rules.rearm_fraction:
            self.held.discard((symbol, "DOWN"))
        if move.direction is None:
            return move.blocked_by or "no_move"
        key = (symbol, move.direction)
        last = self.fired.get(key)
        if last is not None and now - last.at < rules.cooldown_s:
            return "cooldown"
        if key in self.held and last is not None and not _reaches(move, last.next_level):
            return "plateau"
        base = move.current - move.abs_change
        self.fired[key] = Fired(now, next_level(move.direction, move.current, base, rules))
        self.held.add(key)
        return "fired"


def _reaches(move: Move, level: float) -> bool:
    return move.current >= level if move.direction == "UP" else move.current <= level


@attrs.frozen
class Context:
    """What a trader needs beside the move in contracts (None where a price is unknown)."""

    baseline_usd: float | None
    """Baseline contracts × the window's median mark price."""
    current_usd: float | None
    """Contracts now × the mark price now."""
    mark_price_change_pct: float | None
    """(mark now − window's median mark) / window's median mark, over the same window."""
    window_minutes: float
    """The baseline window starts this many minutes before the alert."""


def context(
    base: float,
    current: float,
    window_marks: Sequence[float],
    mark: float | None,
    rules: AlertRules,
) -> Context:
    known = [p for p in window_marks if p > 0 and math.isfinite(p)]
    base_mark = statistics.median(known) if known else None
    return Context(
        baseline_usd=base * base_mark if base_mark is not None else None,
        current_usd=current * mark if mark is not None else None,
        mark_price_change_pct=(
            (mark - base_mark) / base_mark if mark is not None and base_mark is not None else None
        ),
        window_minutes=rules.baseline_from_s / 60,
    )
