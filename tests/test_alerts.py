"""Specification of `volspike_oi.alerts`: baseline, thresholds, cooldown and plateau suppression.

Seed 001 §5: the baseline is the median of the 60–30 min window and a window that cannot be
trusted gives no verdict (never a 0 % move); UP needs pct ≥ spike and abs ≥ the contract minimum
(and the USD minimum when set), DOWN mirrors it. The gate lets one alert per (symbol,
direction) through per cooldown, and a plateau fires once until the move falls back below
rearm_fraction × threshold.
"""

from __future__ import annotations

import statistics

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from volspike_oi.alerts import AlertGate, AlertRules, Baseline, Direction, Move, baseline, measure

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


def test_seed_example_10_pct_and_15000_contracts_is_up() -> None:
    move = measure(165_000.0, 150_000.0, None, AlertRules())
    assert move.pct_change == pytest.approx(0.1)
    assert move.abs_change == 15_000.0
    assert move.direction == "UP"


def test_big_pct_on_a_small_contract_count_is_no_alert() -> None:
    assert measure(1_500.0, 1_000.0, None, AlertRules()).direction is None


# -- the gate: cooldown, plateau, re-arm -----------------------------------------------------------

GATE_RULES = AlertRules(min_delta_contracts=0.0, cooldown_s=900.0, rearm_fraction=0.5)
BASE = 1_000_000.0
T0 = 1_791_360_000.0


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
                st.sampled_from([0.0, 0.025, 0.05, -0.025, -0.05]) | st.floats(-0.5, 0.5),
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
    events: list[Event], rules: AlertRules = GATE_RULES, keep: Direction | None = None
) -> list[tuple[float, str, Direction]]:
    """Every alert the gate lets through: (time, symbol, direction).

    With `keep`, moves in the other direction reach the gate without their direction (same pct).
    """
    gate, fired = AlertGate(), []
    for now, symbol, pct in events:
        move = move_of(pct, rules)
        if keep is not None and move.direction not in (None, keep):
            move = attrs.evolve(move, direction=None)
        if gate.decide(symbol, move, now, rules):
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
dips = st.floats(-1.0, REARM_LEVEL - 1e-9)
holds = st.floats(REARM_LEVEL + 1e-9, 1.0)
"""Clearly below / above the rearm level: 1e-9 keeps float rounding in measure() off the edge."""


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
        assert not gate.decide(symbol, move, now, GATE_RULES)


@PROPERTIES
@given(spikes, st.lists(st.tuples(st.floats(0, 3600), spikes), max_size=40))
def test_plateau_above_the_threshold_fires_once(
    first_pct: float, polls: list[tuple[float, float]]
) -> None:
    assert len(run_gate(plateau(first_pct, polls))) == 1


@PROPERTIES
@given(spikes, st.lists(st.tuples(st.floats(0, 3600), holds), max_size=40))
def test_move_that_stays_above_the_rearm_level_never_fires_again(
    first_pct: float, polls: list[tuple[float, float]]
) -> None:
    assert len(run_gate(plateau(first_pct, polls))) == 1


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
