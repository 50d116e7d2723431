"""Specification of `volspike_oi.polling`: poll intervals inside the OI budget, and their order.

`plan_polls` follows seed 001 §4.2 (`60·N / MAX_REQ_PER_MIN` clamped to [min, max]) while every
other tracked perp keeps its 5-minute coverage, all inside 99 % of the budget; when both cannot
fit, the budget wins and the plan says so. `PollSchedule` is checked by simulation: a poller that
waits for a symbol's due time and for a budget slot (one every 60/B s) polls each symbol within
its interval plus a couple of slots.
"""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from volspike_oi.polling import (
    OTHER_MAX_INTERVAL_S,
    PLAN_UTILISATION,
    PollPlan,
    PollSchedule,
    design_interval,
    phase_of,
    plan_polls,
)

PLANS = settings(max_examples=200)
SEQUENCES = settings(max_examples=100)
"""Each example replays up to 40 schedule operations."""
SIMULATIONS = settings(max_examples=40, deadline=None)
"""Each simulated example pops thousands of times; 40 of them keep the file quick."""

# -- the seed's interval ---------------------------------------------------------------------


@pytest.mark.parametrize(("n_liquid", "interval_s"), [(100, 5.0), (300, 9.0), (400, 12.0)])
def test_seed_examples_at_2000_requests_per_minute(n_liquid: int, interval_s: float) -> None:
    assert design_interval(n_liquid, 2000, 5, 20) == pytest.approx(interval_s)
    assert plan_polls(n_liquid, 0, 2000, 5, 20).design_interval_s == pytest.approx(interval_s)


def test_100_liquid_symbols_alone_get_the_clamped_5_s() -> None:
    plan = plan_polls(100, 0, 2000, 5, 20)
    assert plan.fits
    assert plan.liquid_interval_s == 5.0
    assert plan.polls_per_min == pytest.approx(1200.0)


@settings(max_examples=150)
@given(
    st.integers(0, 2000),
    st.floats(30, 5000),
    st.floats(1, 10),
    st.floats(0, 60),
)
def test_design_interval_is_the_seed_formula_clamped(
    n_liquid: int, oi_per_min: float, min_s: float, extra_s: float
) -> None:
    max_s = min_s + extra_s
    raw = 60.0 * max(n_liquid, 1) / oi_per_min
    assert design_interval(n_liquid, oi_per_min, min_s, max_s) == min(max_s, max(min_s, raw))


# -- plans ---------------------------------------------------------------------------------------


@st.composite
def plans(draw: st.DrawFn) -> tuple[PollPlan, int, int, float, float, float]:
    """(plan, n_liquid, n_other, oi_per_min, min_s, max_s) over realistic and extreme budgets."""
    n_liquid = draw(st.integers(0, 1000))
    n_other = draw(st.integers(0, 1000))
    oi_per_min = draw(st.floats(30, 5000))
    min_s = draw(st.floats(1, 10))
    max_s = min_s + draw(st.floats(0, 60))
    plan = plan_polls(n_liquid, n_other, oi_per_min, min_s, max_s)
    return plan, n_liquid, n_other, oi_per_min, min_s, max_s


Planned = tuple[PollPlan, int, int, float, float, float]


def spent_per_min(plan: PollPlan, n_liquid: int, n_other: int) -> float:
    def rate(n: int, interval_s: float) -> float:
        return n / interval_s if n and math.isfinite(interval_s) else 0.0

    return 60.0 * (rate(n_liquid, plan.liquid_interval_s) + rate(n_other, plan.other_interval_s))


@PLANS
@given(plans())
def test_plan_never_spends_more_than_the_budget(planned: Planned) -> None:
    plan, n_liquid, n_other, oi_per_min, _, _ = planned
    assert plan.polls_per_min <= oi_per_min
    assert spent_per_min(plan, n_liquid, n_other) <= oi_per_min


@PLANS
@given(plans())
def test_polls_per_min_is_what_the_intervals_spend(planned: Planned) -> None:
    plan, n_liquid, n_other, _, _, _ = planned
    assert plan.polls_per_min == pytest.approx(spent_per_min(plan, n_liquid, n_other))


@PLANS
@given(plans())
def test_fitting_plan_gives_liquid_the_design_and_others_5_minutes(planned: Planned) -> None:
    plan, _, n_other, oi_per_min, _, _ = planned
    if plan.fits:
        assert plan.liquid_interval_s == plan.design_interval_s
        assert plan.polls_per_min <= oi_per_min * PLAN_UTILISATION * (1 + 1e-9)
        if n_other:
            assert plan.other_interval_s <= OTHER_MAX_INTERVAL_S


@PLANS
@given(plans())
def test_liquid_interval_is_never_below_the_minimum(planned: Planned) -> None:
    plan, _, _, _, min_s, _ = planned
    assert plan.liquid_interval_s >= min_s


@PLANS
@given(plans())
def test_others_are_never_polled_faster_than_liquid_symbols(planned: Planned) -> None:
    plan, n_liquid, n_other, _, min_s, _ = planned
    if n_liquid and n_other and plan.fits:
        assert plan.other_interval_s >= min(plan.liquid_interval_s, OTHER_MAX_INTERVAL_S)
    if n_other:
        assert plan.other_interval_s >= min_s


@PLANS
@given(plans())
def test_plan_that_cannot_fit_says_the_budget_wins(planned: Planned) -> None:
    plan, n_liquid, n_other, _, _, max_s = planned
    if not plan.fits:
        assert "budget" in plan.note
        if n_liquid:
            # Either the liquid interval stretched, or it already sits at MAX_INTERVAL_SEC and
            # the non-liquid coverage stretched beyond 5 minutes instead.
            stretched = plan.liquid_interval_s > plan.design_interval_s
            others_gave_way = plan.liquid_interval_s >= max_s and (
                not n_other or plan.other_interval_s > OTHER_MAX_INTERVAL_S
            )
            assert stretched or others_gave_way


@PLANS
@given(plans())
def test_stretching_the_liquid_interval_below_its_maximum_keeps_the_others_5_minute_coverage(
    planned: Planned,
) -> None:
    plan, n_liquid, n_other, _, _, max_s = planned
    if n_liquid and n_other and plan.liquid_interval_s < max_s:
        assert plan.other_interval_s <= OTHER_MAX_INTERVAL_S + 1e-9


@PLANS
@given(plans())
def test_liquid_symbols_are_never_starved_for_the_others(planned: Planned) -> None:
    plan, n_liquid, _, oi_per_min, _, max_s = planned
    if n_liquid:
        capacity = oi_per_min * PLAN_UTILISATION / 60
        assert plan.liquid_interval_s <= max(max_s, n_liquid / capacity) * (1 + 1e-9)


@PLANS
@given(plans())
def test_plan_fits_exactly_when_the_design_and_5_minute_coverage_fit(planned: Planned) -> None:
    plan, n_liquid, n_other, oi_per_min, _, _ = planned
    need_per_s = n_liquid / plan.design_interval_s + n_other / OTHER_MAX_INTERVAL_S
    capacity_per_s = oi_per_min * PLAN_UTILISATION / 60.0
    if not math.isclose(need_per_s, capacity_per_s, rel_tol=1e-9):
        assert plan.fits is (need_per_s < capacity_per_s)


def test_others_alone_over_the_budget_do_not_fit() -> None:
    plan = plan_polls(0, 1000, 100, 5, 20)
    assert not plan.fits
    assert plan.polls_per_min <= 100
    assert plan.other_interval_s > OTHER_MAX_INTERVAL_S


def test_budget_too_small_for_the_others_leaves_nothing_for_liquid_symbols() -> None:
    plan = plan_polls(50, 1000, 100, 5, 20)
    assert not plan.fits
    assert "budget too small" in plan.note
    assert plan.polls_per_min <= 100


# -- the schedule ----------------------------------------------------------------------------------


def test_empty_schedule_has_nothing_to_pop() -> None:
    schedule = PollSchedule()
    assert schedule.earliest() is None
    assert schedule.pop_and_reschedule(0.0) is None


@settings(max_examples=150)
@given(st.integers(2, 200), st.floats(1, 600), st.floats(0, 2e9))
def test_batch_of_new_symbols_is_spread_evenly_over_its_interval(
    n: int, interval_s: float, now: float
) -> None:
    schedule = PollSchedule()
    symbols = [f"S{i}USDT" for i in range(n)]
    schedule.set_intervals(dict.fromkeys(symbols, interval_s), now)
    offsets = sorted(schedule.due(s) - now for s in symbols)
    step = interval_s / n
    assert offsets == pytest.approx([(i + 0.5) * step for i in range(n)], abs=1e-6)


@settings(max_examples=150)
@given(st.text(min_size=1, max_size=20), st.floats(1, 600), st.floats(0, 2e9))
def test_lone_new_symbol_takes_its_stable_phase(symbol: str, interval_s: float, now: float) -> None:
    schedule = PollSchedule()
    schedule.set_intervals({symbol: interval_s}, now)
    assert schedule.due(symbol) == now + phase_of(symbol) * interval_s


@settings(max_examples=150)
@given(st.text(max_size=30))
def test_phase_lies_within_one_interval(symbol: str) -> None:
    assert 0.0 <= phase_of(symbol) < 1.0


def test_phase_does_not_depend_on_the_process_hash_seed() -> None:
    # FNV-1a: the empty string is the offset basis, so restarts keep every symbol's phase.
    assert phase_of("") == 2166136261 / 2**32


SYMBOLS = [f"S{i}USDT" for i in range(16)]
INTERVALS = st.sampled_from([5.0, 7.5, 12.0, 60.0, 300.0])

Operation = tuple[str, dict[str, float], float]
operations = st.lists(
    st.one_of(
        st.tuples(
            st.just("set"), st.dictionaries(st.sampled_from(SYMBOLS), INTERVALS), st.floats(0, 30)
        ),
        st.tuples(st.just("pop"), st.just({}), st.floats(0, 30)),
    ),
    max_size=40,
)


def replay(ops: list[Operation]) -> tuple[PollSchedule, float, list[tuple[str | None, float]]]:
    """Apply `ops` (each after `dt` seconds); returns the schedule, the time and every pop."""
    schedule, now, popped = PollSchedule(), 1_000_000.0, []
    for kind, intervals, dt in ops:
        now += dt
        if kind == "set":
            schedule.set_intervals(intervals, now)
        else:
            popped.append((schedule.pop_and_reschedule(now), now))
    return schedule, now, popped


@SEQUENCES
@given(operations)
def test_earliest_is_the_minimum_due_time(ops: list[Operation]) -> None:
    schedule, _, _ = replay(ops)
    held = [s for s in SYMBOLS if s in schedule]
    top = schedule.earliest()
    if not held:
        assert top is None
    else:
        assert top is not None
        assert top[1] == min(schedule.due(s) for s in held)
        assert schedule.due(top[0]) == top[1]


@SEQUENCES
@given(operations)
def test_schedule_holds_exactly_the_last_set_of_symbols(ops: list[Operation]) -> None:
    schedule, _, _ = replay(ops)
    sets = [intervals for kind, intervals, _ in ops if kind == "set"]
    expected = sets[-1] if sets else {}
    assert len(schedule) == len(expected)
    for symbol, interval_s in expected.items():
        assert schedule.interval(symbol) == interval_s


@SEQUENCES
@given(operations)
def test_pop_takes_the_earliest_and_books_its_next_poll_after_now(ops: list[Operation]) -> None:
    schedule, now, _ = replay(ops)
    top = schedule.earliest()
    symbol = schedule.pop_and_reschedule(now + 1.0)
    assert symbol == (top[0] if top else None)
    if symbol is not None:
        assert schedule.due(symbol) > now + 1.0


@SEQUENCES
@given(operations)
def test_popped_symbols_are_always_in_the_schedule(ops: list[Operation]) -> None:
    schedule = PollSchedule()
    now = 0.0
    current: set[str] = set()
    for kind, intervals, dt in ops:
        now += dt
        if kind == "set":
            schedule.set_intervals(intervals, now)
            current = set(intervals)
        else:
            symbol = schedule.pop_and_reschedule(now)
            assert symbol is None or symbol in current


@SEQUENCES
@given(
    st.dictionaries(st.sampled_from(SYMBOLS), INTERVALS, min_size=2),
    st.data(),
)
def test_removed_symbols_never_pop_again(intervals: dict[str, float], data: st.DataObject) -> None:
    schedule, now = PollSchedule(), 0.0
    schedule.set_intervals(intervals, now)
    for _ in range(data.draw(st.integers(0, 40))):
        now += 1.0
        schedule.pop_and_reschedule(now)
    kept = data.draw(st.sets(st.sampled_from(sorted(intervals))))
    schedule.set_intervals({s: intervals[s] for s in kept}, now)
    for _ in range(200):
        now += 1.0
        symbol = schedule.pop_and_reschedule(now)
        assert symbol is None or symbol in kept
    for symbol in set(intervals) - kept:
        assert symbol not in schedule


@settings(max_examples=150)
@given(
    st.floats(10, 600),
    st.floats(0.05, 0.95),
    st.floats(0, 1),
    st.floats(0, 1e6),
)
def test_shrinking_interval_pulls_the_next_poll_in(
    old_s: float, shrink: float, elapsed_share: float, start: float
) -> None:
    schedule = PollSchedule()
    schedule.set_intervals({"BTCUSDT": old_s}, start)
    due = schedule.due("BTCUSDT")
    last_slot = due - old_s
    now = start + elapsed_share * (due - start)
    new_s = shrink * old_s
    schedule.set_intervals({"BTCUSDT": new_s}, now)
    pulled = schedule.due("BTCUSDT")
    assert pulled <= due
    assert pulled >= now
    assert pulled <= max(now, last_slot + new_s) + 1e-6
    assert schedule.earliest() == ("BTCUSDT", pulled)


@settings(max_examples=150)
@given(st.floats(5, 300), st.floats(1.01, 10), st.floats(0, 1e6))
def test_growing_interval_keeps_the_booked_poll(old_s: float, grow: float, start: float) -> None:
    schedule = PollSchedule()
    schedule.set_intervals({"BTCUSDT": old_s}, start)
    due = schedule.due("BTCUSDT")
    schedule.set_intervals({"BTCUSDT": old_s * grow}, start + 1.0)
    assert schedule.due("BTCUSDT") == due
    assert schedule.interval("BTCUSDT") == old_s * grow


def test_far_behind_symbol_restarts_its_phase_instead_of_queueing_a_backlog() -> None:
    schedule = PollSchedule()
    schedule.set_intervals({"BTCUSDT": 5.0}, 0.0)
    after_hold = 1000.0  # a 418 hold: 200 intervals missed
    assert schedule.pop_and_reschedule(after_hold) == "BTCUSDT"
    assert after_hold < schedule.due("BTCUSDT") <= after_hold + 5.0


# -- the schedule at a steady pop rate -------------------------------------------------------------


@st.composite
def universes(draw: st.DrawFn, max_batches: int) -> tuple[list[dict[str, float]], float]:
    """A plan's intervals for a random universe, split into batches; and the OI budget."""
    n_liquid = draw(st.integers(0, 80))
    n_other = draw(st.integers(0 if n_liquid else 1, 200))
    oi_per_min = draw(st.floats(30, 600))
    plan = plan_polls(n_liquid, n_other, oi_per_min, 5.0, 20.0)
    intervals = {f"L{i}USDT": plan.liquid_interval_s for i in range(n_liquid)}
    intervals |= {f"O{i}USDT": plan.other_interval_s for i in range(n_other)}
    batches = draw(st.integers(1, max_batches))
    parts: list[dict[str, float]] = [{} for _ in range(batches)]
    for symbol, interval_s in intervals.items():
        parts[draw(st.integers(0, batches - 1))][symbol] = interval_s
    return parts, oi_per_min


def worst_lateness_in_slots(batches: list[dict[str, float]], oi_per_min: float) -> float:
    """Pop as the poller does: at a symbol's due time, one budget slot after the last pop.

    Returns the largest gap between two polls of one symbol beyond its interval, in slots.
    """
    slot_s = 60.0 / oi_per_min
    schedule, now = PollSchedule(), 1_791_360_000.0
    cumulative: dict[str, float] = {}
    for part in batches:
        cumulative |= part
        schedule.set_intervals(dict(cumulative), now)
    finite = [i for i in cumulative.values() if math.isfinite(i)]
    if not finite:
        return 0.0
    pops = min(int(2.5 * max(finite) / slot_s) + len(cumulative), 12_000)
    last: dict[str, float] = {}
    worst = 0.0
    t = now - slot_s
    for _ in range(pops):
        top = schedule.earliest()
        assert top is not None
        if not math.isfinite(top[1]):
            break
        t = max(t + slot_s, top[1])
        symbol = schedule.pop_and_reschedule(t)
        assert symbol == top[0]
        if symbol in last:
            worst = max(worst, (t - last[symbol] - cumulative[symbol]) / slot_s)
        last[symbol] = t
    return worst


@SIMULATIONS
@given(universes(max_batches=1))
def test_steady_pop_rate_polls_each_symbol_within_its_interval_plus_two_slots(
    universe: tuple[list[dict[str, float]], float],
) -> None:
    assert worst_lateness_in_slots(*universe) <= 2.0


@SIMULATIONS
@given(universes(max_batches=3))
def test_universe_announced_in_batches_stays_within_one_slot_per_stream(
    universe: tuple[list[dict[str, float]], float],
) -> None:
    # Each batch spreads evenly over each of its (at most two) intervals: one stream each.
    batches, oi_per_min = universe
    streams = sum(len(set(part.values())) for part in batches)
    assert worst_lateness_in_slots(batches, oi_per_min) <= streams + 1.0
