"""OI spike/dump rules: baseline, thresholds, cooldown and plateau suppression; pure, no I/O.

Seed 001 §5: baseline = median of the samples 60–30 min ago (configurable); `pct` and `abs`
compare the newest sample with it, on contracts (a pure price move with flat contracts is not
an OI move). An alert needs both |pct| and |abs| (and, optionally, |abs| in USD) over their
thresholds; a window with too few samples gives no verdict, never a 0 %. Each (symbol,
direction) has a cooldown, and once fired stays quiet until the move falls back below half its
threshold, so a plateau above the threshold fires once, not every poll.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from typing import Literal

import attrs

Direction = Literal["UP", "DOWN"]


@attrs.frozen
class AlertRules:
    spike_pct: float = 0.05
    """UP when (now − baseline)/baseline ≥ this (OI_SPIKE_THRESHOLD_PCT)."""
    dump_pct: float = 0.05
    """DOWN when (now − baseline)/baseline ≤ −this (OI_DUMP_THRESHOLD_PCT)."""
    min_delta_contracts: float = 5000.0
    """|now − baseline| must also reach this many contracts (OI_MIN_DELTA_CONTRACTS)."""
    min_delta_usd: float = 0.0
    """…and this many USD at the current mark price (0 = no USD minimum)."""
    baseline_from_s: float = 3600.0
    """The baseline window starts this long before the newest sample (60 min)."""
    baseline_to_s: float = 1800.0
    """…and ends this long before it (30 min)."""
    min_samples: int = 3
    min_coverage: float = 0.5
    """The window's samples must span at least this share of the window."""
    cooldown_s: float = 900.0
    rearm_fraction: float = 0.5


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


def measure(current: float, base: float, mark_price: float | None, rules: AlertRules) -> Move:
    pct = (current - base) / base
    delta = current - base
    usd_ok = rules.min_delta_usd <= 0 or (
        mark_price is not None and abs(delta) * mark_price >= rules.min_delta_usd
    )
    direction: Direction | None = None
    if pct >= rules.spike_pct and delta >= rules.min_delta_contracts and usd_ok:
        direction = "UP"
    elif pct <= -rules.dump_pct and delta <= -rules.min_delta_contracts and usd_ok:
        direction = "DOWN"
    return Move(pct, delta, direction)


@attrs.define
class AlertGate:
    """Cooldown and plateau state per (symbol, direction)."""

    last_fired: dict[tuple[str, Direction], float] = attrs.Factory(dict)
    quiet: set[tuple[str, Direction]] = attrs.Factory(set)
    """Fired and not yet fallen back below rearm_fraction × threshold."""

    def decide(self, symbol: str, move: Move, now: float, rules: AlertRules) -> bool:
        """True when `move` should be alerted now; updates the state either way."""
        if move.pct_change < rules.spike_pct * rules.rearm_fraction:
            self.quiet.discard((symbol, "UP"))
        if move.pct_change > -rules.dump_pct * rules.rearm_fraction:
            self.quiet.discard((symbol, "DOWN"))
        if move.direction is None:
            return False
        key = (symbol, move.direction)
        if key in self.quiet:
            return False
        last = self.last_fired.get(key)
        if last is not None and now - last < rules.cooldown_s:
            return False
        self.last_fired[key] = now
        self.quiet.add(key)
        return True
