"""Specification of `volspike_oi.alerts`: baseline, thresholds, cooldown, escalation, plateau.

Seed 001 §5: the baseline is the median of the 60–30 min window and a window that cannot be
trusted gives no verdict (never a 0 % move); UP needs pct ≥ spike, |abs| × the mark price ≥ the
USD minimum and, when set, |abs| ≥ the contract minimum; DOWN mirrors it. The gate lets one alert
per (symbol, direction) through per cooldown (FR-OI-ALERT-3); after it the same direction fires
again only when the move has grown by one more threshold beyond the level last alerted
(escalation) or after it fell back below rearm_fraction × threshold (re-armed). A plateau never
fires twice.
"""

from __future__ import annotations

import statistics

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from volspike_oi.alerts import (
    AlertGate,
    AlertRules,
    Baseline,
    Direction,
    Fired,
    Move,
    baseline,
    context,
    measure,
    next_level,
)

PROPERTIES = settings(max_examples=120)

rules_strategy = st.builds(
    AlertRules,
    spike_pct=st.floats(0.001, 1),
    dump_pct=st.floats(0.001, 1),
    min_delta_contracts=st.floats(0, 1e6),
    min_delta_usd=st.just(0.0) | st.floats(0, 1e9),
    cooldown_s=st.floats(0, 3600),
    rearm_fraction=st.floats(0, 1),
)

# -- the baseline ----------------------------------------------------------------------------

WINDOW_S = AlertRules().baseline_from_s - AlertRules().baseline_to_s
"""The default window is 60–30 min before the newest sample: 1800 s wide."""
EPOCH_RESOLUTION_S = 1e-3
"""Keeps generated times off an exact edge: float epoch seconds round at ~2.4e-7 s."""


Window = list[tuple[float, float]]


@st.composite
def windows(
    draw: st.DrawFn,
    min_size: int = 0,
    max_size: int = 40,
    span_range_s: tuple[float, float] = (0, WINDOW_S),
) -> Window:
    """Time-ordered (t, contracts) samples in one baseline window; the first and last samples
    are a span within `span_range_s` apart."""
    n = draw(st.integers(min_size, max_size))
    span_s = draw(st.floats(*span_range_s))
    start = 1_791_360_000.0 + draw(st.floats(0, WINDOW_S - span_s))
    inner = sorted(
        draw(st.lists(st.floats(0, span_s), min_size=max(n - 2, 0), max_size=max(n - 2, 0)))
    )
    times = [0.0, *inner, span_s] if n >= 2 else [0.0] * n
    contracts = draw(st.lists(st.floats(1, 1e9), min_size=n, max_size=n))
    return [(start + t, oi) for t, oi in zip(times, contracts, strict=True)]


@PROPERTIES
@given(windows(min_size=3, span_range_s=(AlertRules().min_coverage * WINDOW_S, WINDOW_S)))
def test_baseline_of_a_trusted_window_is_the_median(window: Window) -> None:
    result = baseline(window, AlertRules())
    assert result.value == statistics.median(oi for _, oi in window)
    assert result.samples == len(window)
    assert result.reason == ""


@PROPERTIES
@given(st.integers(1, 10), st.data())
def test_too_few_samples_give_no_verdict(min_samples: int, data: st.DataObject) -> None:
    window = data.draw(windows(max_size=min_samples - 1))
    result = baseline(window, AlertRules(min_samples=min_samples))
    assert result.value is None
    assert "insufficient baseline" in result.reason
    assert result.samples == len(window)


@PROPERTIES
@given(st.floats(0.01, 1), st.data())
def test_samples_spanning_too_little_of_the_window_give_no_verdict(
    min_coverage: float, data: st.DataObject
) -> None:
    window = data.draw(
        windows(min_size=3, span_range_s=(0, min_coverage * WINDOW_S - EPOCH_RESOLUTION_S))
    )
    result = baseline(window, AlertRules(min_coverage=min_coverage))
    assert result.value is None
    assert "insufficient baseline" in result.reason


def test_three_samples_within_a_minute_are_not_a_baseline() -> None:
    window = [(0.0, 100.0), (20.0, 100.0), (40.0, 100.0)]
    result = baseline(window, AlertRules())
    assert result == Baseline(None, 3, "insufficient baseline: samples span 40 s")


@PROPERTIES
@given(windows())
def test_baseline_is_never_zero(window: Window) -> None:
    zeroed = [(t, 0.0) for t, _ in window]
    assert baseline(zeroed, AlertRules()).value is None
    assert baseline(window, AlertRules()).value != 0


# -- thresholds ------------------------------------------------------------------------------------

levels = st.floats(1, 1e9)
marks = st.none() | st.floats(1e-6, 1e6)


def usd_ok(current: float, base: float, mark: float | None, rules: AlertRules) -> bool:
    if rules.min_delta_usd <= 0:
        return True
    return mark is not None and abs(current - base) * mark >= rules.min_delta_usd


@PROPERTIES
@given(levels, levels, marks, rules_strategy)
def test_move_reports_pct_and_abs_change_on_contracts(
    current: float, base: float, mark: float | None, rules: AlertRules
) -> None:
    move = measure(current, base, mark, rules)
    assert move.pct_change == (current - base) / base
    assert move.abs_change == current - base


@PROPERTIES
@given(levels, levels, marks, rules_strategy)
def test_up_exactly_when_pct_and_abs_and_usd_reach_their_thresholds(
    current: float, base: float, mark: float | None, rules: AlertRules
) -> None:
    move = measure(current, base, mark, rules)
    expected = (
        (current - base) / base >= rules.spike_pct
        and current - base >= rules.min_delta_contracts
        and usd_ok(current, base, mark, rules)
    )
    assert (move.direction == "UP") is expected


@PROPERTIES
@given(levels, levels, marks, rules_strategy)
def test_down_exactly_when_pct_and_abs_and_usd_reach_their_thresholds(
    current: float, base: float, mark: float | None, rules: AlertRules
) -> None:
    move = measure(current, base, mark, rules)
    expected = (
        (current - base) / base <= -rules.dump_pct
        and current - base <= -rules.min_delta_contracts
        and usd_ok(current, base, mark, rules)
    )
    assert (move.direction == "DOWN") is expected


@PROPERTIES
@given(levels, marks, rules_strategy)
def test_flat_contracts_are_no_move_whatever_the_price(
    level: float, mark: float | None, rules: AlertRules
) -> None:
    assert measure(level, level, mark, rules).direction is None


@PROPERTIES
@given(levels, levels, rules_strategy.filter(lambda r: r.min_delta_usd > 0))
def test_usd_minimum_without_a_mark_price_gives_no_direction(
    current: float, base: float, rules: AlertRules
) -> None:
    assert measure(current, base, None, rules).direction is None


SEED_RULES = AlertRules(min_delta_contracts=5000.0, min_delta_usd=0.0)
"""Seed 001 §5.2's example: 5 % and 5000 contracts, no USD minimum."""


def test_seed_example_10_pct_and_15000_contracts_is_up() -> None:
    move = measure(165_000.0, 150_000.0, None, SEED_RULES)
    assert move.pct_change == pytest.approx(0.1)
    assert move.abs_change == 15_000.0
    assert move.direction == "UP"


def test_big_pct_on_a_small_contract_count_is_no_alert() -> None:
    move = measure(1_500.0, 1_000.0, None, SEED_RULES)
    assert (move.direction, move.blocked_by) == (None, "contracts_gate")


# -- the USD minimum (issue 10's numbers) --------------------------------------------------------


def test_btc_up_5_pct_is_an_alert_although_under_5000_contracts() -> None:
    # 95,000 contracts at $95,000: +5 % is 4,750 contracts, about $451M.
    move = measure(99_750.0, 95_000.0, 95_000.0, AlertRules())
    assert move.direction == "UP"
    assert move.abs_change * 95_000.0 == pytest.approx(451_250_000)


def test_penny_coin_up_5_pct_worth_4000_dollars_is_no_alert() -> None:
    # 2 billion contracts at $0.00004: +5 % is 100 million contracts, $4,000.
    move = measure(2.1e9, 2e9, 0.00004, AlertRules())
    assert (move.direction, move.blocked_by) == (None, "usd_gate")


def test_without_a_mark_price_the_usd_minimum_cannot_be_met() -> None:
    move = measure(99_750.0, 95_000.0, None, AlertRules())
    assert (move.direction, move.blocked_by) == (None, "unknown_mark_price")


@PROPERTIES
@given(levels, levels, marks, rules_strategy)
def test_a_move_under_its_pct_threshold_is_no_move_whatever_the_gates(
    current: float, base: float, mark: float | None, rules: AlertRules
) -> None:
    move = measure(current, base, mark, rules)
    if -rules.dump_pct < move.pct_change < rules.spike_pct:
        assert (move.direction, move.blocked_by) == (None, None)


@PROPERTIES
@given(levels, levels, marks, rules_strategy)
def test_a_move_over_its_pct_threshold_either_has_a_direction_or_names_its_gate(
    current: float, base: float, mark: float | None, rules: AlertRules
) -> None:
    move = measure(current, base, mark, rules)
    if move.pct_change >= rules.spike_pct or move.pct_change <= -rules.dump_pct:
        assert (move.direction is None) is (move.blocked_by is not None)


# -- the context --------------------------------------------------------------------------------


def test_context_values_the_baseline_at_the_windows_median_price() -> None:
    more = context(1000.0, 1100.0, [2.0, 4.0, 3.0], 3.3, AlertRules())
    assert more.baseline_usd == 3000.0
    assert more.current_usd == pytest.approx(3630.0)
    assert more.mark_price_change_pct == pytest.approx(0.1)
    assert more.window_minutes == 60.0


@PROPERTIES
@given(levels, levels, st.lists(st.floats(1e-6, 1e6), max_size=5), marks)
def test_context_is_unknown_never_zero_without_prices(
    base: float, current: float, window_marks: list[float], mark: float | None
) -> None:
    more = context(base, current, window_marks, mark, AlertRules())
    assert (more.baseline_usd is None) is (not window_marks)
    assert (more.current_usd is None) is (mark is None)
    assert (more.mark_price_change_pct is None) is (not window_marks or mark is None)
    assert more.baseline_usd != 0
    assert more.current_usd != 0


# -- the gate: cooldown, escalation, plateau, re-arm --------------------------------------------

GATE_RULES = AlertRules(
    min_delta_contracts=0.0, min_delta_usd=0.0, cooldown_s=900.0, rearm_fraction=0.5
)
BASE = 1_000_000.0
T0 = 1_791_360_000.0
EDGE = 1e-9
"""Keeps generated levels off an exact edge: float rounding in measure() is far below it."""


def move_of(pct: float, rules: AlertRules = GATE_RULES) -> Move:
    return measure(BASE * (1 + pct), BASE, None, rules)


Event = tuple[float, str, float]
"""(epoch seconds, symbol, pct change of that poll)."""


@st.composite
def timelines(draw: st.DrawFn) -> list[Event]:
    """Polls of two symbols, in time order, with moves around every threshold and rearm level."""
    steps = draw(
        st.lists(
            st.tuples(
                st.sampled_from([0.0, 5.0, 60.0, 450.0, 900.0]) | st.floats(0, 2000),
                st.sampled_from(["BTCUSDT", "ETHUSDT"]),
                st.sampled_from([0.0, 0.025, 0.05, 0.1, 0.15, -0.025, -0.05, -0.1])
                | st.floats(-0.5, 0.5),
            ),
            max_size=40,
        )
    )
    now, events = T0, []
    for dt, symbol, pct in steps:
        now += dt
        events.append((now, symbol, pct))
    return events


def run_gate(
    events: list[Event],
    rules: AlertRules = GATE_RULES,
    keep: Direction | None = None,
    gate: AlertGate | None = None,
) -> list[tuple[float, str, Direction]]:
    """Every alert the gate lets through: (time, symbol, direction).

    With `keep`, moves in the other direction reach the gate without their direction (same pct).
    """
    gate, fired = gate or AlertGate(), []
    for now, symbol, pct in events:
        move = move_of(pct, rules)
        if keep is not None and move.direction not in (None, keep):
            move = attrs.evolve(move, direction=None)
        if gate.decide(symbol, move, now, rules) == "fired":
            assert move.direction is not None
            fired.append((now, symbol, move.direction))
    return fired


def plateau(first_pct: float, polls: list[tuple[float, float]]) -> list[Event]:
    events, now = [(T0, "BTCUSDT", first_pct)], T0
    for dt, pct in polls:
        now += dt
        events.append((now, "BTCUSDT", pct))
    return events


REARM_LEVEL = GATE_RULES.spike_pct * GATE_RULES.rearm_fraction
spikes = st.floats(GATE_RULES.spike_pct, 1.0)
dips = st.floats(-1.0, REARM_LEVEL - EDGE)


def holds_below_escalation(first_pct: float) -> st.SearchStrategy[float]:
    """Above the rearm level, below one more threshold beyond `first_pct`: a plateau."""
    return st.floats(REARM_LEVEL + EDGE, first_pct + GATE_RULES.spike_pct - EDGE)


@PROPERTIES
@given(timelines(), st.floats(0, 3600))
def test_no_two_alerts_of_one_symbol_and_direction_within_the_cooldown(
    events: list[Event], cooldown_s: float
) -> None:
    rules = attrs.evolve(GATE_RULES, cooldown_s=cooldown_s)
    last: dict[tuple[str, Direction], float] = {}
    for now, symbol, direction in run_gate(events, rules):
        key = (symbol, direction)
        if key in last:
            assert now - last[key] >= cooldown_s
        last[key] = now


@PROPERTIES
@given(timelines())
def test_a_move_without_a_direction_never_alerts(events: list[Event]) -> None:
    gate = AlertGate()
    for now, symbol, pct in events:
        move = attrs.evolve(move_of(pct), direction=None)
        assert gate.decide(symbol, move, now, GATE_RULES) != "fired"


@PROPERTIES
@given(timelines())
def test_without_falling_back_a_direction_fires_again_only_a_threshold_further(
    events: list[Event],
) -> None:
    """The invariant behind escalation: between two alerts of one (symbol, direction) that did
    not fall back below the rearm level, the move grew by at least one more threshold."""
    gate = AlertGate()
    last_pct: dict[tuple[str, Direction], float] = {}
    rearmed: set[tuple[str, Direction]] = set()
    for now, symbol, raw_pct in events:
        move = move_of(raw_pct)
        pct = move.pct_change  # as the gate sees it, rounding included
        if pct < REARM_LEVEL:
            rearmed.add((symbol, "UP"))
        if pct > -REARM_LEVEL:
            rearmed.add((symbol, "DOWN"))
        if gate.decide(symbol, move, now, GATE_RULES) != "fired":
            continue
        assert move.direction is not None
        key = (symbol, move.direction)
        if key in last_pct and key not in rearmed:
            step = pct - last_pct[key] if move.direction == "UP" else last_pct[key] - pct
            assert step >= GATE_RULES.spike_pct - EDGE
        last_pct[key] = pct
        rearmed.discard(key)


@PROPERTIES
@given(spikes, st.data())
def test_a_plateau_fires_once_however_long_it_lasts(first_pct: float, data: st.DataObject) -> None:
    polls = data.draw(
        st.lists(st.tuples(st.floats(0, 3600), holds_below_escalation(first_pct)), max_size=40)
    )
    assert len(run_gate(plateau(first_pct, polls))) == 1


@PROPERTIES
@given(spikes, st.data(), st.floats(0, 3600), st.floats(0, 1))
def test_after_the_cooldown_an_escalation_by_one_more_threshold_fires(
    first_pct: float, data: st.DataObject, extra_s: float, beyond: float
) -> None:
    held = data.draw(
        st.lists(st.tuples(st.floats(0, 300), holds_below_escalation(first_pct)), max_size=10)
    )
    escalated = first_pct + GATE_RULES.spike_pct + EDGE + beyond
    events = plateau(first_pct, held)
    at = max(T0 + GATE_RULES.cooldown_s, events[-1][0]) + extra_s
    events.append((at, "BTCUSDT", escalated))
    assert [t for t, _, _ in run_gate(events)] == [T0, at]


@PROPERTIES
@given(spikes, st.floats(0, GATE_RULES.cooldown_s - EPOCH_RESOLUTION_S), st.floats(0, 1))
def test_an_escalation_within_the_cooldown_waits_for_it(
    first_pct: float, after_s: float, beyond: float
) -> None:
    escalated = first_pct + GATE_RULES.spike_pct + EDGE + beyond
    events = plateau(first_pct, [(after_s, escalated)])
    assert run_gate(events) == [(T0, "BTCUSDT", "UP")]


def test_issue_example_6_pct_then_36_pct_forty_minutes_later_fires_twice() -> None:
    events = plateau(0.06, [(600.0, 0.06), (1800.0, 0.06), (0.0, 0.36)])
    assert [t - T0 for t, _, _ in run_gate(events)] == [0.0, 2400.0]


def test_issue_example_after_6_pct_the_next_alert_needs_11_pct() -> None:
    gate, rules = AlertGate(), GATE_RULES
    assert gate.decide("BTCUSDT", move_of(0.06), T0, rules) == "fired"
    assert gate.decide("BTCUSDT", move_of(0.1099), T0 + 60, rules) == "cooldown"
    assert gate.decide("BTCUSDT", move_of(0.1099), T0 + 1000, rules) == "plateau"
    assert gate.decide("BTCUSDT", move_of(0.1101), T0 + 1001, rules) == "fired"
    assert gate.decide("BTCUSDT", move_of(0.1599), T0 + 2000, rules) == "plateau"
    assert gate.decide("BTCUSDT", move_of(0.1601), T0 + 2000, rules) == "fired"


def test_next_level_is_one_threshold_of_the_alerts_baseline_beyond_it() -> None:
    rules = AlertRules(spike_pct=0.05, dump_pct=0.08)
    assert next_level("UP", 106.0, 100.0, rules) == pytest.approx(111.0)
    assert next_level("DOWN", 90.0, 100.0, rules) == pytest.approx(82.0)


@PROPERTIES
@given(spikes, dips, st.floats(0, GATE_RULES.cooldown_s), st.floats(0, 3600), spikes)
def test_after_falling_back_below_the_rearm_level_and_the_cooldown_it_fires_again(
    first_pct: float, dip_pct: float, dip_after_s: float, extra_s: float, again_pct: float
) -> None:
    again_after_s = max(dip_after_s, GATE_RULES.cooldown_s) + extra_s
    events = plateau(first_pct, [(dip_after_s, dip_pct), (again_after_s - dip_after_s, again_pct)])
    assert [t for t, _, direction in run_gate(events) if direction == "UP"] == [
        events[0][0],
        events[2][0],
    ]


@PROPERTIES
@given(spikes, dips, st.floats(0, GATE_RULES.cooldown_s - EPOCH_RESOLUTION_S), spikes)
def test_rearmed_move_still_waits_for_the_cooldown(
    first_pct: float, dip_pct: float, again_after_s: float, again_pct: float
) -> None:
    events = plateau(first_pct, [(again_after_s / 2, dip_pct), (again_after_s / 2, again_pct)])
    assert [t for t, _, direction in run_gate(events) if direction == "UP"] == [T0]


def test_down_fires_right_after_up_and_up_again_after_its_cooldown() -> None:
    events = [(T0, "BTCUSDT", 0.08), (T0 + 5.0, "BTCUSDT", -0.08), (T0 + 905.0, "BTCUSDT", 0.08)]
    assert run_gate(events) == [
        (T0, "BTCUSDT", "UP"),
        (T0 + 5.0, "BTCUSDT", "DOWN"),
        (T0 + 905.0, "BTCUSDT", "UP"),
    ]


@PROPERTIES
@given(timelines(), st.sampled_from(["UP", "DOWN"]))
def test_up_and_down_alerts_are_independent(events: list[Event], direction: Direction) -> None:
    # Whether or not the other direction's alerts fire, this direction's alerts are the same.
    both = [alert for alert in run_gate(events) if alert[2] == direction]
    assert run_gate(events, keep=direction) == both


@PROPERTIES
@given(timelines())
def test_symbols_are_independent(events: list[Event]) -> None:
    together = run_gate(events)
    for symbol in ("BTCUSDT", "ETHUSDT"):
        alone = run_gate([event for event in events if event[1] == symbol])
        assert alone == [alert for alert in together if alert[1] == symbol]


# -- restoring the gate after a restart -----------------------------------------------------------


def restored_after(events: list[Event]) -> AlertGate:
    """A fresh gate given only what the store keeps: each (symbol, direction)'s last alert."""
    original = AlertGate()
    run_gate(events, gate=original)
    fresh = AlertGate()
    for (symbol, direction), fired in original.fired.items():
        fresh.restore(symbol, direction, fired)
    return fresh


@PROPERTIES
@given(timelines())
def test_a_restored_gate_knows_every_last_alert_and_holds_at_least_what_ran(
    events: list[Event],
) -> None:
    """What the store keeps restores the cooldowns and escalation levels exactly; a direction
    that had re-armed is held until the next sample shows it fell back (never an extra alert
    for a move already alerted)."""
    running = AlertGate()
    run_gate(events, gate=running)
    restored = restored_after(events)
    assert restored.fired == running.fired
    assert running.held <= restored.held


@PROPERTIES
@given(spikes, dips, spikes, st.floats(0, 3600))
def test_a_restored_gate_re_arms_when_the_first_sample_fell_back(
    first_pct: float, dip_pct: float, again_pct: float, extra_s: float
) -> None:
    gate = restored_after([(T0, "BTCUSDT", first_pct)])
    later = T0 + GATE_RULES.cooldown_s + extra_s
    events = [(later, "BTCUSDT", dip_pct), (later, "BTCUSDT", again_pct)]
    ups = [alert for alert in run_gate(events, gate=gate) if alert[2] == "UP"]
    assert ups == [(later, "BTCUSDT", "UP")]


@PROPERTIES
@given(spikes, st.data())
def test_a_restart_during_a_plateau_does_not_re_alert(
    first_pct: float, data: st.DataObject
) -> None:
    polls = data.draw(
        st.lists(st.tuples(st.floats(0, 3600), holds_below_escalation(first_pct)), max_size=20)
    )
    gate = restored_after([(T0, "BTCUSDT", first_pct)])
    assert run_gate(plateau(first_pct, polls)[1:], gate=gate) == []


def test_restore_keeps_the_newest_alert() -> None:
    gate = AlertGate()
    gate.restore("BTCUSDT", "UP", Fired(T0 + 60, 2.0))
    gate.restore("BTCUSDT", "UP", Fired(T0, 1.0))
    assert gate.fired[("BTCUSDT", "UP")] == Fired(T0 + 60, 2.0)
