"""Specification of `volspike_oi.budget`: start times for requests inside Binance's IP weight limit.

Properties hold for any arrival sequence: a `Gcra` never grants more than its rate over any window
(plus its burst and one request); `WeightBudget.reserve` never starts a request before now or
before a 429/418 hold, and never plans a minute past the 1 % guard, whatever weight the
X-MBX-USED-WEIGHT-1M header shows for other processes on the IP. Times are epoch seconds.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from volspike_oi.budget import (
    BAN_END_MARGIN_S,
    BOUNDARY_SKEW_S,
    DEFER_STEP_S,
    FALLBACK_418_S,
    FALLBACK_429_S,
    FIREWALL_FIRST_HOLD_S,
    GUARD_FRACTION,
    MAX_BACKOFF_HOLD_S,
    MIN_OI_PER_MIN,
    MINUTE_S,
    PROBE_TIMEOUT_S,
    RAMP_FLOOR,
    RAMP_S,
    ExchangeClock,
    Gcra,
    Lane,
    Reservation,
    WeightBudget,
    ramp_factor,
)

PROPERTIES = settings(max_examples=150)
T0 = 1_791_360_000.0
"""2026-10-07 08:00:00 UTC: a minute boundary."""
EPOCH_RESOLUTION_S = 1e-6
"""Float epoch seconds near T0 are exact to ~2.4e-7 s; comparisons allow this much."""

# -- the GCRA bucket --------------------------------------------------------------------------

arrivals = st.lists(
    st.tuples(st.floats(0, 5), st.integers(1, 40)),  # (seconds since the previous call, weight)
    min_size=1,
    max_size=50,
)


def grant(bucket: Gcra, calls: list[tuple[float, int]]) -> list[tuple[float, float, int]]:
    """(now, start, weight) for each call in order."""
    now, granted = T0, []
    for dt, weight in calls:
        now += dt
        granted.append((now, bucket.reserve(weight, now), weight))
    return granted


@PROPERTIES
@given(st.floats(0.1, 50), st.floats(1, 100), arrivals)
def test_gcra_never_grants_more_than_rate_times_window_plus_burst_plus_one_request(
    rate_per_s: float, burst: float, calls: list[tuple[float, int]]
) -> None:
    granted = sorted((start, weight) for _, start, weight in grant(Gcra(rate_per_s, burst), calls))
    heaviest = max(weight for _, weight in granted)
    for i, (window_start, _) in enumerate(granted):
        inside = 0
        for window_end, weight in granted[i:]:
            inside += weight
            window_s = window_end - window_start + EPOCH_RESOLUTION_S
            assert inside <= rate_per_s * window_s + burst + heaviest


@PROPERTIES
@given(st.floats(0.1, 50), st.floats(1, 100), arrivals)
def test_gcra_never_starts_before_now_and_keeps_request_order(
    rate_per_s: float, burst: float, calls: list[tuple[float, int]]
) -> None:
    granted = grant(Gcra(rate_per_s, burst), calls)
    for now, start, _ in granted:
        assert start >= now
    starts = [start for _, start, _ in granted]
    assert starts == sorted(starts)


@PROPERTIES
@given(st.floats(0.1, 50), st.integers(1, 100))
def test_idle_gcra_lets_its_burst_through_at_once_then_paces_at_its_rate(
    rate_per_s: float, burst: int
) -> None:
    bucket = Gcra(rate_per_s, float(burst))
    starts = [bucket.reserve(1, T0) for _ in range(burst + 3)]
    rounding = len(starts) * EPOCH_RESOLUTION_S  # each reservation adds one rounding step
    assert starts[: burst + 1] == pytest.approx([T0] * (burst + 1), abs=rounding)
    for earlier, later in zip(starts[burst:], starts[burst + 1 :], strict=False):
        assert later - earlier == pytest.approx(1 / rate_per_s, abs=rounding)


# -- holds after 429 / 418 -------------------------------------------------------------------------


@PROPERTIES
@given(st.floats(0, 1e6))
def test_429_without_retry_after_holds_until_the_next_minute_plus_one_second(offset: float) -> None:
    now = T0 + offset
    budget = WeightBudget()
    until = budget.refused(429, None, now)
    assert until == (now // MINUTE_S + 1) * MINUTE_S + FALLBACK_429_S
    assert budget.hold_until == until
    assert budget.hold_reason == "rate_limited"


@PROPERTIES
@given(st.floats(0, 1e6))
def test_418_without_retry_after_holds_for_120_seconds(offset: float) -> None:
    now = T0 + offset
    budget = WeightBudget()
    assert budget.refused(418, None, now) == now + FALLBACK_418_S == now + 120.0
    assert budget.hold_reason == "binance_ban"


@PROPERTIES
@given(st.floats(0, 1e6), st.floats(1, 3 * 86400))
def test_418_without_retry_after_holds_until_the_ban_end_its_body_names(
    offset: float, ban_s: float
) -> None:
    now = T0 + offset
    budget = WeightBudget()
    until = budget.refused(418, None, now, banned_until_s=now + ban_s)
    assert until == now + ban_s + BAN_END_MARGIN_S
    assert budget.hold_reason == "binance_ban"


@PROPERTIES
@given(st.sampled_from([418, 429]), st.floats(0, 3 * 86400), st.floats(0, 1e6))
def test_retry_after_wins_when_given(status: int, retry_after_s: float, offset: float) -> None:
    now = T0 + offset
    assert WeightBudget().refused(status, retry_after_s, now) == now + retry_after_s


@PROPERTIES
@given(
    st.lists(
        st.tuples(st.sampled_from([418, 429]), st.none() | st.floats(0, 600), st.floats(0, 30)),
        min_size=1,
        max_size=10,
    )
)
def test_a_later_shorter_refusal_never_shortens_a_hold(
    refusals: list[tuple[int, float | None, float]],
) -> None:
    budget, now, longest = WeightBudget(), T0, -math.inf
    for status, retry_after_s, dt in refusals:
        now += dt
        longest = max(longest, budget.refused(status, retry_after_s, now))
        assert budget.hold_until == longest


@PROPERTIES
@given(st.sampled_from([418, 429]), st.none() | st.floats(0, 120), st.floats(0, 59.9))
def test_nothing_more_is_planned_in_the_minute_of_a_refusal(
    status: int, retry_after_s: float | None, offset: float
) -> None:
    now = T0 + offset
    budget = WeightBudget()
    budget.refused(status, retry_after_s, now)
    for lane in Lane:
        assert budget.reserve(lane, 1, now).minute > now // MINUTE_S


# -- reserve over any sequence of requests, header readings and refusals ------------------------

Operation = tuple[str, Lane, int, float | None, float]
operations = st.lists(
    st.one_of(
        # reserve: lane, weight, -, seconds later
        st.tuples(
            st.just("reserve"),
            st.sampled_from(Lane),
            st.integers(1, 40),
            st.none(),
            st.floats(0, 3),
        ),
        # observe: -, foreign weight in the header, which reservation (index), seconds after its start
        st.tuples(
            st.just("observe"),
            st.just(Lane.OI),
            st.integers(0, 3000),
            st.floats(0, 1),
            st.floats(0, 1),
        ),
        # refused: -, status, Retry-After, seconds later
        st.tuples(
            st.just("refused"),
            st.just(Lane.OI),
            st.sampled_from([418, 429]),
            st.none() | st.floats(0, 90),
            st.floats(0, 3),
        ),
    ),
    max_size=80,
)
budgets = st.builds(
    lambda limit, oi_share: WeightBudget(ip_limit_per_min=limit, oi_per_min=int(limit * oi_share)),
    st.sampled_from([1200, 2400, 6000]),
    st.floats(0.05, 0.9),
)


Check = Callable[[float, float, Reservation], None]


def replay(budget: WeightBudget, ops: list[Operation], check: Check) -> None:
    """Apply `ops` to `budget` with time moving forward; `check(now, hold, reservation)` after
    every reserve."""
    now = T0 + 7.0
    reservations: list[Reservation] = []
    for kind, lane, number, fraction, dt in ops:
        if kind == "reserve":
            now += dt
            hold = budget.hold_until
            reservation = budget.reserve(lane, number, now)
            reservations.append(reservation)
            check(now, hold, reservation)
        elif kind == "observe" and reservations:
            assert fraction is not None
            reservation = reservations[int(fraction * (len(reservations) - 1))]
            now = max(now, reservation.start + dt)
            budget.observe(reservation, reservation.counted + number, now)
        elif kind == "refused":
            now += dt
            budget.refused(number, fraction, now)


@PROPERTIES
@given(budgets, operations)
def test_reserve_never_starts_before_now_nor_before_a_hold(
    budget: WeightBudget, ops: list[Operation]
) -> None:
    def check(now: float, hold: float, reservation: Reservation) -> None:
        assert reservation.start >= now
        assert reservation.start >= hold

    replay(budget, ops, check)


@PROPERTIES
@given(budgets, operations)
def test_reserve_never_plans_a_minute_past_the_guard_whatever_others_use(
    budget: WeightBudget, ops: list[Operation]
) -> None:
    guard = budget.ip_limit_per_min * (1 - GUARD_FRACTION)

    def check(now: float, hold: float, reservation: Reservation) -> None:
        assert budget.projected(reservation.minute) <= guard

    replay(budget, ops, check)


@PROPERTIES
@given(budgets, operations)
def test_reservation_names_its_minute_and_our_weight_in_it(
    budget: WeightBudget, ops: list[Operation]
) -> None:
    def check(now: float, hold: float, reservation: Reservation) -> None:
        assert reservation.minute == int(reservation.start // MINUTE_S)
        assert reservation.counted == budget.sent_by_minute[reservation.minute]
        assert reservation.counted >= reservation.weight

    replay(budget, ops, check)


def test_a_full_minute_defers_the_next_request_to_the_next_minute_boundary() -> None:
    budget = WeightBudget()
    now = T0 + 30.0
    budget.sent_by_minute[int(now // MINUTE_S)] = 2376 - 39  # 40 more would cross 99 % of 2400
    reservation = budget.reserve(Lane.OTHER, 40, now)
    assert reservation.start == T0 + MINUTE_S
    assert reservation.minute == int(now // MINUTE_S) + 1


# -- what the X-MBX-USED-WEIGHT-1M header says about others on our IP ----------------------------


def observed_foreign(budget: WeightBudget, foreign: int, now: float) -> None:
    reservation = budget.reserve(Lane.OI, 1, now)
    assert reservation.start == now
    budget.observe(reservation, reservation.counted + foreign, now)


def test_1000_per_minute_of_foreign_weight_leaves_1000_for_oi() -> None:
    budget = WeightBudget()  # 2400 per IP, 5 % margin, 2000 for OI
    now = T0 + 30.0
    observed_foreign(budget, 500, now)  # 500 in half a minute: 1000 a minute
    assert budget.oi_rate_per_min(now) <= 2400 * 0.95 - budget.other_per_min - 1000
    assert budget.oi_rate_per_min(now) == pytest.approx(1000.0)


@PROPERTIES
@given(st.integers(0, 3000), st.floats(BOUNDARY_SKEW_S, 59.99), st.integers(0, 10_000))
def test_foreign_weight_lowers_the_oi_rate_by_at_least_itself(
    foreign: int, offset: float, minutes: int
) -> None:
    budget = WeightBudget()
    now = T0 + minutes * MINUTE_S + offset
    observed_foreign(budget, foreign, now)
    room = budget.plannable_per_min - budget.other_per_min - foreign
    assert budget.oi_rate_per_min(now) <= max(MIN_OI_PER_MIN, room)
    assert budget.oi_rate_per_min(now) >= MIN_OI_PER_MIN


@PROPERTIES
@given(st.integers(0, 3000), st.floats(BOUNDARY_SKEW_S, 59.99))
def test_the_oi_lane_is_retuned_to_the_oi_rate(foreign: int, offset: float) -> None:
    budget = WeightBudget()
    now = T0 + offset
    observed_foreign(budget, foreign, now)
    lane_per_min = budget.lanes[Lane.OI].rate_per_s * MINUTE_S
    rate = budget.oi_rate_per_min(now)
    # The lane follows the rate to within 2 % of the larger of the two (math.isclose's rule).
    assert abs(lane_per_min - rate) <= 0.02 * max(lane_per_min, rate) + 1e-9


@PROPERTIES
@given(st.integers(0, 3000), st.floats(BOUNDARY_SKEW_S, 59.99), st.floats(0, 59.99))
def test_foreign_weight_seen_last_minute_still_counts_this_minute(
    foreign: int, offset: float, next_offset: float
) -> None:
    budget = WeightBudget()
    observed_foreign(budget, foreign, T0 + offset)
    later = T0 + MINUTE_S + next_offset
    room = budget.plannable_per_min - budget.other_per_min - foreign
    assert budget.oi_rate_per_min(later) <= max(MIN_OI_PER_MIN, room)


@PROPERTIES
@given(st.integers(0, 100_000), st.floats(0, BOUNDARY_SKEW_S), st.floats(0, 1))
def test_reading_in_the_first_2_s_of_a_minute_is_not_foreign_weight(
    used: int, start_offset: float, share: float
) -> None:
    # The exchange's clock may still be in the previous minute: its count is not ours to explain.
    budget = WeightBudget()
    start = T0 + min(start_offset, BOUNDARY_SKEW_S - 1e-6)
    reservation = budget.reserve(Lane.OI, 1, start)
    read_at = start + share * (T0 + BOUNDARY_SKEW_S - start)
    budget.observe(reservation, used, read_at)
    assert budget.foreign_per_min(read_at) == 0
    assert budget.oi_rate_per_min(read_at) == budget.oi_per_min


@PROPERTIES
@given(st.integers(0, 100_000), st.floats(BOUNDARY_SKEW_S, 59.99), st.floats(0, 10))
def test_response_read_in_the_next_minute_is_not_foreign_weight(
    used: int, start_offset: float, late_s: float
) -> None:
    budget = WeightBudget()
    reservation = budget.reserve(Lane.OI, 1, T0 + start_offset)
    read_at = T0 + MINUTE_S + late_s
    budget.observe(reservation, used, read_at)
    assert budget.foreign_per_min(read_at) == 0


@PROPERTIES
@given(st.integers(1, 3000), st.floats(BOUNDARY_SKEW_S, 59.99), st.floats(0, 1))
def test_foreign_estimate_follows_the_latest_reading_not_the_largest(
    foreign: int, offset: float, share: float
) -> None:
    budget = WeightBudget()
    now = T0 + offset
    first, second = budget.reserve(Lane.OI, 1, now), budget.reserve(Lane.OI, 1, now)
    budget.observe(first, first.counted + foreign, now)
    later = now + share * (T0 + MINUTE_S - now) * 0.99
    budget.observe(second, second.counted, later)
    assert budget.foreign_by_minute[int(now // MINUTE_S)] == 0
    assert budget.oi_rate_per_min(later) == budget.oi_per_min


# -- after a hold: one probe, then a ramp ---------------------------------------------------------

refusals = st.one_of(
    st.tuples(st.sampled_from([418, 429]), st.none() | st.floats(0, 120)),
    st.tuples(st.sampled_from([403, 451]), st.none()),
)


def refuse(budget: WeightBudget, status: int, retry_after_s: float | None, now: float) -> float:
    if status in (403, 451):
        return budget.blocked(status, now)
    return budget.refused(status, retry_after_s, now)


@PROPERTIES
@given(refusals, st.lists(st.tuples(st.sampled_from(Lane), st.integers(1, 40)), min_size=2))
def test_after_any_hold_only_one_probe_may_be_sent_until_it_is_answered(
    refusal: tuple[int, float | None], requests: list[tuple[Lane, int]]
) -> None:
    budget, now = WeightBudget(), T0 + 7.0
    until = refuse(budget, *refusal, now)
    reservations = [budget.reserve(lane, weight, now) for lane, weight in requests]
    assert all(r.start >= until for r in reservations)
    [probe] = [r for r in reservations if r.probe]
    sendable = [r for r in reservations if budget.may_send(r, max(r.start, until))]
    assert sendable == [probe]
    assert budget.hold_reason
    assert budget.answered(probe, probe.start)
    assert budget.hold_reason == ""
    assert all(budget.may_send(r, max(r.start, until)) for r in reservations)


@PROPERTIES
@given(refusals, st.floats(0, 10))
def test_a_refused_probe_holds_again_and_hands_out_a_new_probe(
    refusal: tuple[int, float | None], dt: float
) -> None:
    budget, now = WeightBudget(), T0 + 7.0
    until = refuse(budget, *refusal, now)
    probe = budget.reserve(Lane.OI, 1, now)
    assert probe.probe
    later = refuse(budget, *refusal, probe.start + dt)
    assert later > probe.start + dt  # never zero: a probe refused is not re-sent at once
    assert not budget.may_send(probe, later)
    assert not budget.answered(probe, later)
    again = budget.reserve(Lane.OI, 1, probe.start + dt)
    assert again.probe
    assert again.start >= max(until, later)


@PROPERTIES
@given(st.sampled_from([403, 451]), st.integers(1, 12))
def test_firewall_holds_double_with_each_refused_probe_up_to_the_ceiling(
    status: int, probes: int
) -> None:
    budget, now = WeightBudget(), T0 + 7.0
    holds = []
    for _ in range(probes):
        until = budget.blocked(status, now)
        holds.append(until - now)
        now = until
    assert holds == [min(MAX_BACKOFF_HOLD_S, FIREWALL_FIRST_HOLD_S * 2**k) for k in range(probes)]
    assert budget.hold_reason == "binance_firewall"


def test_refusals_of_requests_sent_before_a_hold_do_not_escalate_it() -> None:
    budget, now = WeightBudget(), T0 + 7.0
    first = budget.blocked(403, now)
    for dt in (0.01, 0.02, 0.03):  # answers to requests already on their way
        assert budget.blocked(403, now + dt) == first + dt
    assert first - now == FIREWALL_FIRST_HOLD_S


def test_a_probe_never_answered_is_replaced_after_the_probe_timeout() -> None:
    budget, now = WeightBudget(), T0 + 7.0
    until = budget.blocked(403, now)
    lost = budget.reserve(Lane.OI, 1, now)
    waiting = budget.reserve(Lane.OI, 1, until + 1)
    assert lost.probe
    assert not waiting.probe
    replacement = budget.reserve(Lane.OI, 1, until + PROBE_TIMEOUT_S + 1)
    assert replacement.probe
    assert not budget.may_send(lost, replacement.start)
    assert budget.may_send(replacement, replacement.start)


@PROPERTIES
@given(st.floats(0, 2 * RAMP_S))
def test_the_ramp_grows_linearly_from_its_floor_to_the_full_rate(dt: float) -> None:
    factor = ramp_factor(T0, T0 + dt)
    assert RAMP_FLOOR <= factor <= 1.0
    expected = 1.0 if dt >= RAMP_S else max(RAMP_FLOOR, dt / RAMP_S)
    assert factor == pytest.approx(expected, abs=EPOCH_RESOLUTION_S)


@PROPERTIES
@given(refusals, st.floats(0, 300))
def test_after_the_probe_no_lane_bursts_and_the_oi_lane_ramps_up(
    refusal: tuple[int, float | None], idle_s: float
) -> None:
    budget, now = WeightBudget(), T0 + 7.0
    refuse(budget, *refusal, now)
    probe = budget.reserve(Lane.OI, 1, now)
    released = probe.start + idle_s  # however long the lanes stood still, no credit is left
    assert budget.answered(probe, released)
    rate_per_s = budget.oi_per_min / MINUTE_S
    starts = [budget.reserve(Lane.OI, 1, released).start for _ in range(int(rate_per_s * 5))]
    first_second = [s for s in starts if s < released + 1.0]
    assert len(first_second) <= RAMP_FLOOR * rate_per_s + 1
    assert starts == sorted(starts)


# -- minutes on the exchange's clock ----------------------------------------------------------------


@PROPERTIES
@given(
    st.floats(-90, 90),
    st.lists(st.tuples(st.floats(0, 3), st.floats(0, 0.2)), min_size=1, max_size=60),
)
def test_the_exchange_clock_offset_always_lies_within_its_bounds(
    offset: float, responses: list[tuple[float, float]]
) -> None:
    clock, now = ExchangeClock(), T0
    for dt, rtt in responses:
        now += dt
        stamped = now + rtt / 2 + offset  # the exchange's time when it answered
        clock.observe_date(math.floor(stamped), now, now + rtt)
        assert clock.low - EPOCH_RESOLUTION_S <= offset <= clock.high + EPOCH_RESOLUTION_S
    assert abs(clock.offset_s - offset) <= 0.5 + EPOCH_RESOLUTION_S


def test_many_responses_narrow_the_offset_to_the_round_trip() -> None:
    clock = ExchangeClock()
    for k in range(200):
        sent = T0 + k * 0.0371
        clock.observe_date(math.floor(sent + 0.001 - 1.5), sent, sent + 0.002)
    assert clock.offset_s == pytest.approx(-1.5, abs=0.05)


def test_a_stepped_exchange_clock_starts_the_estimate_over() -> None:
    clock = ExchangeClock()
    for k in range(50):
        sent = T0 + k * 0.1
        clock.observe_date(math.floor(sent), sent, sent)
    clock.observe_date(math.floor(T0 + 10 + 60), T0 + 10, T0 + 10)
    assert clock.offset_s == pytest.approx(60, abs=1)


@PROPERTIES
@given(st.floats(-30, 30))
def test_minutes_are_the_exchanges_when_its_clock_is_off(offset: float) -> None:
    budget = WeightBudget()
    budget.exchange_clock = ExchangeClock(offset, offset)
    assert budget.minute_of(T0 - offset) == T0 // MINUTE_S
    assert budget.minute_start(int(T0 // MINUTE_S)) == pytest.approx(T0 - offset)
    until = budget.refused(429, None, T0 - offset + 30)
    assert until == pytest.approx(T0 - offset + MINUTE_S + FALLBACK_429_S)


def test_requests_deferred_to_the_next_minute_start_spread_out() -> None:
    budget = WeightBudget()
    now = T0 + 30.0
    budget.sent_by_minute[int(now // MINUTE_S)] = 2376
    starts = [budget.reserve(Lane.OTHER, 1, now).start for _ in range(5)]
    assert starts == pytest.approx([T0 + MINUTE_S + k * DEFER_STEP_S for k in range(5)])
