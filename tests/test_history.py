"""Specification of `volspike_oi.history`: the per-symbol OI ring buffer, against a plain list.

For any sequence of in-order appends, `OiHistory` behaves like "the last `capacity` samples of a
list": same samples in the same order, and `window` / `since` equal the naive filters. Samples
that arrive out of order are refused without changing the buffer.
"""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from volspike_oi.history import BYTES_PER_SAMPLE, OiHistory, capacity_for

PROPERTIES = settings(max_examples=120)

Sample = tuple[float, float]


@st.composite
def in_order_samples(draw: st.DrawFn) -> list[Sample]:
    """Non-decreasing times (repeats included) with any contract counts."""
    steps = st.sampled_from([0.0, 0.5, 5.0]) | st.floats(0, 100)
    contracts = st.floats(0, 1e12)
    t, samples = 1_791_360_000.0, []
    for step, oi in draw(st.lists(st.tuples(steps, contracts), max_size=40)):
        t += step
        samples.append((t, oi))
    return samples


def filled(capacity: int, samples: list[Sample]) -> OiHistory:
    history = OiHistory(capacity)
    for t, contracts in samples:
        history.append(t, contracts)
    return history


capacities = st.integers(1, 40)


@PROPERTIES
@given(capacities, in_order_samples())
def test_buffer_holds_exactly_the_last_capacity_samples_in_order(
    capacity: int, samples: list[Sample]
) -> None:
    history = filled(capacity, samples)
    expected = samples[-capacity:]
    assert list(history) == expected
    assert len(history) == len(expected)
    assert history.capacity == capacity


@PROPERTIES
@given(capacities, in_order_samples(), st.floats(-50, 150), st.floats(0, 150))
def test_window_equals_the_naive_filter(
    capacity: int, samples: list[Sample], from_offset: float, width: float
) -> None:
    history = filled(capacity, samples)
    base = samples[0][0] if samples else 0.0
    t_from = base + from_offset
    t_to = t_from + width
    kept = samples[-capacity:]
    assert history.window(t_from, t_to) == [s for s in kept if t_from <= s[0] <= t_to]


@PROPERTIES
@given(capacities, in_order_samples(), st.data())
def test_window_bounds_that_are_sample_times_are_inclusive(
    capacity: int, samples: list[Sample], data: st.DataObject
) -> None:
    kept = samples[-capacity:]
    if not kept:
        return
    t_from, t_to = sorted(data.draw(st.sampled_from(kept))[0] for _ in range(2))
    history = filled(capacity, samples)
    assert history.window(t_from, t_to) == [s for s in kept if t_from <= s[0] <= t_to]


@PROPERTIES
@given(capacities, in_order_samples(), st.floats(-50, 5000))
def test_since_equals_the_naive_filter(
    capacity: int, samples: list[Sample], from_offset: float
) -> None:
    history = filled(capacity, samples)
    t_from = (samples[0][0] if samples else 0.0) + from_offset
    assert history.since(t_from) == [s for s in samples[-capacity:] if s[0] >= t_from]


@PROPERTIES
@given(capacities, in_order_samples())
def test_latest_time_is_the_newest_sample(capacity: int, samples: list[Sample]) -> None:
    history = filled(capacity, samples)
    if samples:
        assert history.latest_time() == samples[-1][0]
    else:
        with pytest.raises(IndexError):
            history.latest_time()


@PROPERTIES
@given(capacities, in_order_samples(), st.floats(1e-3, 1e4), st.floats(0, 1e12))
def test_out_of_order_append_is_refused_and_changes_nothing(
    capacity: int, samples: list[Sample], earlier_by: float, contracts: float
) -> None:
    if not samples:
        return
    history = filled(capacity, samples)
    with pytest.raises(ValueError, match="time order"):
        history.append(samples[-1][0] - earlier_by, contracts)
    assert list(history) == samples[-capacity:]


@PROPERTIES
@given(capacities, in_order_samples(), st.floats(0, 1e12))
def test_sample_at_the_same_time_as_the_newest_is_accepted(
    capacity: int, samples: list[Sample], contracts: float
) -> None:
    if not samples:
        return
    history = filled(capacity, samples)
    history.append(samples[-1][0], contracts)
    assert list(history) == [*samples, (samples[-1][0], contracts)][-capacity:]


@PROPERTIES
@given(capacities, in_order_samples(), in_order_samples(), st.floats(-500, 500))
def test_merge_older_puts_a_backfill_in_front_like_the_naive_list(
    capacity: int, live: list[Sample], backfill: list[Sample], shift_s: float
) -> None:
    history = filled(capacity, live)
    backfill = [(t + shift_s, oi) for t, oi in backfill]
    held = live[-capacity:]
    older = sorted(s for s in backfill if not held or s[0] < held[0][0])
    added = history.merge_older(backfill)
    assert list(history) == (older + held)[-capacity:]
    if len(older) + len(held) <= capacity:
        assert added == len(older)


@PROPERTIES
@given(capacities, in_order_samples(), st.floats(0, 1e12))
def test_merge_older_ignores_samples_not_older_than_the_oldest(
    capacity: int, live: list[Sample], contracts: float
) -> None:
    if not live:
        return
    history = filled(capacity, live)
    oldest = live[-capacity:][0][0]
    assert history.merge_older([(oldest, contracts), (oldest + 1.0, contracts)]) == 0
    assert list(history) == live[-capacity:]


def test_empty_history_has_empty_window_and_since() -> None:
    history = OiHistory(5)
    assert len(history) == 0
    assert list(history) == []
    assert history.window(-math.inf, math.inf) == []
    assert history.since(0.0) == []


@pytest.mark.parametrize("capacity", [0, -1])
def test_capacity_below_one_is_refused(capacity: int) -> None:
    with pytest.raises(ValueError, match="capacity"):
        OiHistory(capacity)


def test_three_hours_at_5_s_fits_with_room_to_spare() -> None:
    assert capacity_for(3, 5) >= 3 * 3600 / 5


@PROPERTIES
@given(st.floats(0.01, 24), st.floats(1, 600))
def test_capacity_covers_the_hours_at_the_minimum_interval(
    hours: float, min_interval_s: float
) -> None:
    assert capacity_for(hours, min_interval_s) >= hours * 3600 / min_interval_s


@settings(max_examples=50)
@given(st.floats(0.01, 3), st.floats(5, 600), st.floats(0, 1e6))
def test_a_full_buffer_spans_the_hours_it_was_sized_for(
    hours: float, min_interval_s: float, start: float
) -> None:
    capacity = capacity_for(hours, min_interval_s)
    history = filled(capacity, [(start + i * min_interval_s, 1.0) for i in range(capacity)])
    oldest, newest = next(iter(history))[0], history.latest_time()
    assert newest - oldest >= hours * 3600 * (1 - 1e-9)


# -- the mark price column -------------------------------------------------------------------------

PricedSample = tuple[float, float, float]
prices = st.just(math.nan) | st.floats(1e-6, 1e6)
"""A mark price, or NaN when the sample had none."""


@st.composite
def priced_samples(draw: st.DrawFn) -> list[PricedSample]:
    return [(t, oi, draw(prices)) for t, oi in draw(in_order_samples())]


def priced(capacity: int, samples: list[PricedSample]) -> OiHistory:
    history = OiHistory(capacity)
    for t, contracts, mark in samples:
        history.append(t, contracts, mark)
    return history


@PROPERTIES
@given(capacities, priced_samples(), st.floats(-50, 150), st.floats(0, 150))
def test_mark_prices_are_the_known_prices_of_the_window(
    capacity: int, samples: list[PricedSample], from_offset: float, width: float
) -> None:
    history = priced(capacity, samples)
    t_from = (samples[0][0] if samples else 0.0) + from_offset
    t_to = t_from + width
    kept = samples[-capacity:]
    assert history.mark_prices(t_from, t_to) == [
        mark for t, _, mark in kept if t_from <= t <= t_to and not math.isnan(mark)
    ]
    assert history.window(t_from, t_to) == [(t, oi) for t, oi, _ in kept if t_from <= t <= t_to]


@PROPERTIES
@given(capacities, priced_samples(), priced_samples(), st.floats(-500, 500))
def test_merge_older_keeps_each_samples_price(
    capacity: int, live: list[PricedSample], backfill: list[PricedSample], shift_s: float
) -> None:
    history = priced(capacity, live)
    backfill = [(t + shift_s, oi, mark) for t, oi, mark in backfill]
    history.merge_older(backfill)
    everything = list(history)
    if everything:
        t_from, t_to = everything[0][0], everything[-1][0]
        held = live[-capacity:]
        older = sorted(
            (s for s in backfill if not held or s[0] < held[0][0]), key=lambda s: (s[0], s[1])
        )
        kept = (older + held)[-capacity:]
        assert history.mark_prices(t_from, t_to) == [m for *_, m in kept if not math.isnan(m)]


def test_a_sample_without_a_price_has_none_never_zero() -> None:
    history = OiHistory(4)
    history.append(1.0, 10.0)
    history.append(2.0, 11.0, 0.5)
    assert history.mark_prices(0.0, 3.0) == [0.5]


def test_a_sample_costs_24_bytes() -> None:
    history = OiHistory(1)
    columns = (history._times, history._oi, history._marks)  # three array('d') columns
    assert sum(column.itemsize for column in columns) == BYTES_PER_SAMPLE == 24
