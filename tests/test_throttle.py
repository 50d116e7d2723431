"""How often a pushed reading is stored: at most once per interval, only on change, and the
last change of a symbol that goes quiet is stored once its interval has passed."""

from __future__ import annotations

import itertools
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from volspike_oi.throttle import StoreThrottle


def test_first_reading_is_stored_and_an_unchanged_one_never() -> None:
    t: StoreThrottle[str] = StoreThrottle(5.0)
    assert t.offer("BTC", 0.0, Decimal(1), "a") == "a"
    assert t.offer("BTC", 10.0, Decimal(1), "b") is None
    assert t.due(100.0) == []


def test_a_change_inside_the_interval_waits_and_the_newest_is_stored_when_due() -> None:
    t: StoreThrottle[str] = StoreThrottle(5.0)
    t.offer("BTC", 0.0, Decimal(1), "a")
    assert t.offer("BTC", 1.0, Decimal(2), "b") is None
    assert t.offer("BTC", 2.0, Decimal(3), "c") is None
    assert t.due(4.9) == []
    assert t.due(5.0) == ["c"]
    assert t.due(60.0) == []


def test_a_move_back_to_the_stored_value_inside_the_interval_stores_nothing() -> None:
    t: StoreThrottle[str] = StoreThrottle(5.0)
    t.offer("BTC", 0.0, Decimal(1), "a")
    t.offer("BTC", 1.0, Decimal(2), "b")
    assert t.offer("BTC", 2.0, Decimal(1), "c") is None
    assert t.due(10.0) == []


def test_symbols_are_throttled_apart() -> None:
    t: StoreThrottle[str] = StoreThrottle(5.0)
    assert t.offer("BTC", 0.0, Decimal(1), "a") == "a"
    assert t.offer("ETH", 0.5, Decimal(1), "b") == "b"


steps = st.lists(
    st.tuples(st.floats(0, 3, allow_nan=False), st.integers(0, 3)), min_size=1, max_size=60
)


@given(steps, st.floats(0.5, 10))
def test_stored_rows_are_spaced_by_the_interval_change_and_end_at_the_last_value(
    readings: list[tuple[float, int]], interval: float
) -> None:
    t: StoreThrottle[tuple[float, int]] = StoreThrottle(interval)
    now, stored = 0.0, list[tuple[float, int]]()
    for gap, value in readings:
        now += gap
        stored.extend((now, item[1]) for item in t.due(now))
        if t.offer("X", now, Decimal(value), (now, value)) is not None:
            stored.append((now, value))
    stored.extend((now + interval + 1, item[1]) for item in t.due(now + interval + 1))
    times = [at for at, _ in stored]
    assert all(b - a >= interval - 1e-9 for a, b in itertools.pairwise(times))
    values = [v for _, v in stored]
    assert all(a != b for a, b in itertools.pairwise(values))
    assert values[-1] == readings[-1][1]  # nothing a trader reads back is lost at the end
