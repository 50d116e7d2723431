"""How often each symbol's open interest is polled: pure interval planning, no I/O.

The liquid interval follows seed 001 §4.2, `60·N / MAX_REQ_PER_MIN` clamped to
[MIN_INTERVAL_SEC, MAX_INTERVAL_SEC]. Every other tracked perp must still be polled at least
every 5 minutes from the same OI budget; when both cannot fit, the budget wins: the liquid
interval stretches and the plan says so. Spare budget polls the other perps more often.
"""

from __future__ import annotations

import heapq
import math

import attrs

OTHER_MAX_INTERVAL_S = 300.0
"""The old 5-minute snapshot coverage every tracked perp keeps."""
PLAN_UTILISATION = 0.99
"""Plan for 99 % of the OI budget: the 1 % slack lets polls delayed by a hold catch up."""


@attrs.frozen
class PollPlan:
    liquid_interval_s: float
    """Seconds between two polls of one liquid symbol."""
    other_interval_s: float
    """Seconds between two polls of one other (non-liquid) tracked perp."""
    design_interval_s: float
    """What seed 001 §4.2 asks for; equals liquid_interval_s when it fits."""
    polls_per_min: float
    """OI requests per minute this plan spends."""
    fits: bool
    """False when the budget cannot give liquid symbols the design interval."""
    note: str


def design_interval(n_liquid: int, oi_per_min: float, min_s: float, max_s: float) -> float:
    raw = 60.0 * max(n_liquid, 1) / oi_per_min
    return min(max_s, max(min_s, raw))


def plan_polls(
    n_liquid: int,
    n_other: int,
    oi_per_min: float,
    min_s: float,
    max_s: float,
    other_max_s: float = OTHER_MAX_INTERVAL_S,
) -> PollPlan:
    """The intervals for `n_liquid` + `n_other` symbols sharing `oi_per_min` requests a minute.

    Order of sacrifice when the budget is short: first the liquid interval stretches from the
    design value towards `max_s` (others keep 5-minute coverage); then liquid symbols keep
    `max_s` and the others stretch beyond 5 minutes; liquid symbols are never starved for
    non-liquid ones.
    """
    design = design_interval(n_liquid, oi_per_min, min_s, max_s)
    capacity = oi_per_min * PLAN_UTILISATION / 60.0  # polls per second
    other_need = n_other / other_max_s
    too_small = "budget too small even for the 5-minute coverage of non-liquid perps"
    if n_liquid == 0:
        liquid, fits = design, other_need <= capacity
        note = "no liquid symbols" if fits else too_small
    else:
        liquid_room = capacity - other_need
        if n_liquid / design <= liquid_room:
            liquid, fits, note = design, True, "design interval fits the budget"
        elif n_liquid / max_s <= liquid_room:
            liquid, fits = n_liquid / liquid_room, False
            note = (
                f"budget wins: {60 * capacity:.0f} polls/min cannot give {n_liquid} liquid symbols "
                f"{design:.1f} s and {n_other} others {other_max_s:.0f} s"
            )
        else:
            liquid, fits = max(max_s, n_liquid / capacity), False
            note = (
                f"{too_small}: liquid symbols first, every {max(max_s, n_liquid / capacity):.1f} s"
            )
    spare = max(0.0, capacity - n_liquid / liquid)
    if n_other == 0:
        other = other_max_s
    elif spare <= 0:
        other = math.inf
    elif n_other / spare > other_max_s:
        other = n_other / spare  # the budget wins: coverage stretches beyond 5 minutes
    else:
        # Spare polls go to the others, but never faster than a liquid symbol is polled.
        other = min(other_max_s, max(n_other / spare, liquid if n_liquid else min_s, min_s))
    per_min = 60.0 * (n_liquid / liquid + (n_other / other if n_other else 0.0))
    return PollPlan(liquid, other, design, per_min, fits, note)


def phase_of(symbol: str) -> float:
    """A stable position in [0, 1) for `symbol`, to spread new symbols over an interval."""
    h = 2166136261
    for byte in symbol.encode():
        h = ((h ^ byte) * 16777619) & 0xFFFFFFFF
    return h / 2**32


class PollSchedule:
    """Earliest-deadline-first order of symbols to poll; each has its own interval.

    Pure bookkeeping (times are epoch seconds passed in); a heap with lazy invalidation keeps
    each pop O(log n) for hundreds of symbols at tens of polls a second.
    """

    def __init__(self) -> None:
        self._due: dict[str, float] = {}
        self._interval: dict[str, float] = {}
        self._heap: list[tuple[float, str]] = []

    def __len__(self) -> int:
        return len(self._due)

    def __contains__(self, symbol: str) -> bool:
        return symbol in self._due

    def interval(self, symbol: str) -> float:
        return self._interval[symbol]

    def due(self, symbol: str) -> float:
        return self._due[symbol]

    def _push(self, symbol: str, due: float) -> None:
        self._due[symbol] = due
        heapq.heappush(self._heap, (due, symbol))

    def set_intervals(self, intervals: dict[str, float], now: float) -> None:
        """Make the schedule hold exactly `intervals`' symbols at those intervals.

        A new symbol is placed at a stable phase within its first interval (so a whole new
        universe starts evenly spread); a known symbol whose interval shrinks is pulled in so
        its next gap is no longer than the new interval.
        """
        for symbol in [s for s in self._due if s not in intervals]:
            del self._due[symbol]
            del self._interval[symbol]
        arrivals: dict[float, list[str]] = {}
        for symbol, interval in intervals.items():
            old = self._interval.get(symbol)
            self._interval[symbol] = interval
            if old is None:
                arrivals.setdefault(interval, []).append(symbol)
            elif interval < old:
                last = self._due[symbol] - old
                self._push(symbol, max(now, min(self._due[symbol], last + interval)))
        for interval, symbols in arrivals.items():
            # A batch of arrivals is spread evenly over the interval (a whole universe at
            # start-up); a lone arrival takes its stable hash phase.
            symbols.sort(key=phase_of)
            for i, symbol in enumerate(symbols):
                phase = (i + 0.5) / len(symbols) if len(symbols) > 1 else phase_of(symbol)
                self._push(symbol, now + phase * interval)
        if len(self._heap) > 4 * len(self._due) + 64:
            self._heap = [(d, s) for s, d in self._due.items()]
            heapq.heapify(self._heap)

    def earliest(self) -> tuple[str, float] | None:
        while self._heap:
            due, symbol = self._heap[0]
            if self._due.get(symbol) == due:
                return symbol, due
            heapq.heappop(self._heap)
        return None

    def pop_and_reschedule(self, now: float) -> str | None:
        """Take the most overdue symbol and book its next poll one interval after this one."""
        top = self.earliest()
        if top is None:
            return None
        symbol, due = top
        heapq.heappop(self._heap)
        interval = self._interval[symbol]
        following = due + interval
        if following <= now:
            # Far behind (e.g. after a 418 hold): restart this symbol's phase instead of
            # queueing a backlog that the 1 % planning slack could never work off.
            following = now + max(phase_of(symbol), 0.05) * interval
        self._push(symbol, following)
        return symbol
