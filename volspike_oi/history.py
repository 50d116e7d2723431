"""Per-symbol open interest history at native resolution: compact ring buffers, no I/O.

Three `array('d')` columns per symbol (epoch seconds, contracts, mark price; NaN when the price
was unknown): 24 bytes a sample, against ~150 for a deque of (float, float, float) tuples. At
the 5 s minimum interval, 3 h is 2160 samples, about 52 KB per symbol.
"""

from __future__ import annotations

import bisect
import math
from array import array
from collections.abc import Iterable, Iterator

BYTES_PER_SAMPLE = 24
DEFAULT_HOURS = 3.0
UNKNOWN_PRICE = math.nan
"""A sample without a fresh mark price: never 0, which would read as a price."""

Sample = tuple[float, float] | tuple[float, float, float]
"""(epoch seconds, contracts[, mark price or NaN])."""


def capacity_for(hours: float, min_interval_s: float) -> int:
    """Samples needed to keep `hours` at one sample per `min_interval_s`, with 10 % spare."""
    return math.ceil(hours * 3600 / min_interval_s * 1.1) + 1


class OiHistory:
    """A ring buffer of (time, contracts, mark price), oldest overwritten first; times are
    non-decreasing. Iteration and windows give (time, contracts); `mark_prices` the prices."""

    __slots__ = ("_marks", "_oi", "_size", "_start", "_times")

    def __init__(self, capacity: int) -> None:
        if capacity < 1:
            raise ValueError("capacity must be ≥ 1")
        self._times = array("d", bytes(8 * capacity))
        self._oi = array("d", bytes(8 * capacity))
        self._marks = array("d", [UNKNOWN_PRICE]) * capacity
        self._start = 0
        self._size = 0

    @property
    def capacity(self) -> int:
        return len(self._times)

    def __len__(self) -> int:
        return self._size

    def append(self, t: float, contracts: float, mark_price: float = UNKNOWN_PRICE) -> None:
        """Add a sample; one older than the newest is refused (samples must arrive in order)."""
        if self._size and t < self.latest_time():
            raise ValueError("samples must be appended in time order")
        cap = len(self._times)
        index = (self._start + self._size) % cap
        self._times[index] = t
        self._oi[index] = contracts
        self._marks[index] = mark_price
        if self._size < cap:
            self._size += 1
        else:
            self._start = (self._start + 1) % cap

    def latest_time(self) -> float:
        if not self._size:
            raise IndexError("empty history")
        return self._times[(self._start + self._size - 1) % len(self._times)]

    def _index(self, i: int) -> int:
        return (self._start + i) % len(self._times)

    def _at(self, i: int) -> tuple[float, float]:
        j = self._index(i)
        return self._times[j], self._oi[j]

    def __iter__(self) -> Iterator[tuple[float, float]]:
        for i in range(self._size):
            yield self._at(i)

    def _first_at_or_after(self, t: float) -> int:
        return bisect.bisect_left(range(self._size), t, key=lambda i: self._at(i)[0])

    def _positions(self, t_from: float, t_to: float) -> Iterator[int]:
        for i in range(self._first_at_or_after(t_from), self._size):
            if self._times[self._index(i)] > t_to:
                return
            yield i

    def window(self, t_from: float, t_to: float) -> list[tuple[float, float]]:
        """The samples with t_from ≤ time ≤ t_to, oldest first."""
        return [self._at(i) for i in self._positions(t_from, t_to)]

    def mark_prices(self, t_from: float, t_to: float) -> list[float]:
        """The known mark prices of the samples with t_from ≤ time ≤ t_to, oldest first."""
        marks = (self._marks[self._index(i)] for i in self._positions(t_from, t_to))
        return [mark for mark in marks if not math.isnan(mark)]

    def since(self, t_from: float) -> list[tuple[float, float]]:
        return [self._at(i) for i in range(self._first_at_or_after(t_from), self._size)]

    def merge_older(self, samples: Iterable[Sample]) -> int:
        """Put `samples` older than the oldest held one in front (a backfill arriving after the
        first live samples); the newest `capacity` of all are kept. Returns how many were added."""
        oldest = self._at(0)[0] if self._size else float("inf")
        # By time (then contracts) only, stably: a NaN price must not take part in the order.
        older = sorted(
            (_with_price(s) for s in samples if s[0] < oldest), key=lambda s: (s[0], s[1])
        )
        if not older:
            return 0
        held = [(*self._at(i), self._marks[self._index(i)]) for i in range(self._size)]
        kept = (older + held)[-len(self._times) :]
        self._start, self._size = 0, 0
        for t, oi, mark in kept:
            self.append(t, oi, mark)
        return len(older)


def _with_price(sample: Sample) -> tuple[float, float, float]:
    t, contracts, *price = sample
    return t, contracts, price[0] if price else UNKNOWN_PRICE
