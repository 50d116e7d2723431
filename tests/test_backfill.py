"""First start with no stored history: openInterestHist fills the alert baseline at once."""

from __future__ import annotations

import trio

from tests.conftest import START_MS
from tests.service_harness import start_stack
from volspike_oi import metrics as m
from volspike_oi.sim.binance import parse_scenario

SYMBOL = "LINKUSDT"
SPIKE_AT_S = 180


async def test_a_spike_three_minutes_after_a_cold_start_is_alerted(nursery, autojump_clock):
    scenario = parse_scenario(
        {"events": [{"type": "oi_change", "at_s": SPIKE_AT_S, "symbol": SYMBOL, "pct": 12}]}
    )
    stack = await start_stack(nursery, scenario=scenario, sim={"symbols": 120})
    await trio.sleep(6 * 60)
    plan = stack.service.poller.plan
    universe = stack.service.status.universe
    assert plan is not None
    assert universe is not None
    ups = [a for a in stack.recorder.alerts if a.symbol == SYMBOL]
    assert len(ups) == 1
    assert ups[0].direction == "UP"
    assert 0 <= ups[0].timestamp - (START_MS / 1000 + SPIKE_AT_S) <= 2 * plan.liquid_interval_s
    assert ups[0].baseline_samples >= 3  # 5-minute rows from 60–30 min before start
    # One openInterestHist call per liquid symbol, inside its own limit: no refusals.
    calls = stack.service.metrics.get(m.BACKFILL_CALLS)
    assert 0.9 * len(universe.liquid_symbols) <= calls <= len(universe.tracked)
    assert stack.sim.stats.by_endpoint["/futures/data/openInterestHist"] == calls
    assert stack.sim.stats.by_status.get(429, 0) == 0
    assert [a for a in stack.recorder.alerts if a.symbol != SYMBOL] == []
    # The same rows, in coin, are the Binance part of each asset's aggregate baseline.
    history = stack.service.assets.history.get("LINK", "binance")
    assert history is not None
    oldest = next(iter(history))[0]
    assert oldest <= START_MS / 1000 - 3000
