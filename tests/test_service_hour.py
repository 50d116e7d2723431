"""One simulated hour of the whole service against the simulator (600 perps, ~350 liquid).

Runs under `autojump_clock`: an hour of polling (about 120,000 requests) takes well under a
minute of real time. REST is in-process (`SimTransport`); the mark price stream is a real
WebSocket on loopback.
"""

from __future__ import annotations

import trio

from tests.conftest import START_MS
from tests.service_harness import Stack, largest_gap_s, start_stack
from volspike_oi.sim.binance import parse_scenario

SPIKE_SYMBOL = "LINKUSDT"
SPIKE_AT_S = 50 * 60
HOUR_S = 3600


async def run_hour(nursery: trio.Nursery) -> Stack:
    scenario = parse_scenario(
        {"events": [{"type": "oi_change", "at_s": SPIKE_AT_S, "symbol": SPIKE_SYMBOL, "pct": 12}]}
    )
    stack = await start_stack(nursery, scenario=scenario)
    await trio.sleep(HOUR_S)
    return stack


async def test_one_simulated_hour_meets_budget_cadence_coverage_and_alerting(
    nursery, autojump_clock
):
    stack = await run_hour(nursery)
    sim, service, rec = stack.sim, stack.service, stack.recorder
    start = START_MS / 1000

    # Zero refusals: the service never went over Binance's limit.
    assert sim.stats.by_status.get(429, 0) == 0
    assert sim.stats.by_status.get(418, 0) == 0
    for minute in sim.stats.minutes.values():
        assert minute.max_used <= sim.settings.weight_limit

    # OI polls use at least 98 % of MAX_REQ_PER_MIN in every full minute after start-up.
    oi_per_minute: dict[int, int] = {}
    for times in sim.stats.oi_request_ms.values():
        for ms in times:
            oi_per_minute[ms // 60_000] = oi_per_minute.get(ms // 60_000, 0) + 1
    first = START_MS // 60_000
    steady = [oi_per_minute.get(m, 0) for m in range(first + 1, first + 59)]
    assert min(steady) >= 0.98 * 2000, steady

    # Every liquid symbol's largest gap ≤ 1.2 × its interval (after the first interval).
    plan = service.poller.plan
    assert plan is not None
    universe = service.status.universe
    assert universe is not None
    liquid = universe.liquid_symbols
    assert 300 <= len(liquid) <= 400
    settle = start + 120
    always_liquid = [
        s
        for s in liquid
        if rec.samples[s][0].received_at < settle
        and all(x.source == "realtime" for x in rec.samples[s])
    ]
    assert len(always_liquid) >= 300
    worst = max(largest_gap_s(rec.samples[s], settle) for s in always_liquid)
    assert worst <= 1.2 * plan.liquid_interval_s, (worst, plan)
    assert plan.liquid_interval_s <= 12.0

    # Every tracked perp, liquid or not, is sampled at least every 5 minutes.
    for symbol in universe.tracked:
        samples = rec.samples[symbol]
        assert samples, symbol
        assert samples[0].received_at - start <= 300 + 1, symbol
        assert largest_gap_s(samples, start) <= 300 + 1, symbol

    # Every sample carries a mark price and a USD value (the stream covers every symbol).
    assert all(s.usd is not None and s.usd > 0 for ss in rec.samples.values() for s in ss)

    # The scripted +12 % OI spike yields exactly one UP alert, within two intervals.
    ups = [a for a in rec.alerts if a.symbol == SPIKE_SYMBOL and a.direction == "UP"]
    assert len(ups) == 1, rec.alerts
    assert 0 <= ups[0].timestamp - (start + SPIKE_AT_S) <= 2 * plan.liquid_interval_s
    assert 0.11 <= ups[0].pct_change <= 0.13
    assert [a for a in rec.alerts if a.symbol != SPIKE_SYMBOL] == []


async def test_universe_follows_hysteresis_as_volumes_move(nursery, autojump_clock):
    # LTC falls to 1.5M (below exit: leaves), ADA to 3M (between: stays); drift brings entries.
    scenario = parse_scenario(
        {
            "events": [
                {"type": "quote_volume", "at_min": 5, "symbol": "LTCUSDT", "usdt": 1_500_000},
                {"type": "quote_volume", "at_min": 5, "symbol": "ADAUSDT", "usdt": 3_000_000},
            ]
        }
    )
    # Only the classifier matters here: the feature flags switch the poller and the stream off.
    stack = await start_stack(
        nursery,
        scenario=scenario,
        env={"OI_REALTIME_ENABLED": "false", "MARK_PRICE_STREAM_ENABLED": "false"},
    )
    seen = []
    for _ in range(60):
        await trio.sleep(60)
        universe = stack.service.status.universe
        assert universe is not None
        seen.append((universe.liquid_symbols, universe.quote_volume_24h))
    assert "LTCUSDT" in seen[0][0]
    assert "LTCUSDT" not in seen[-1][0]
    assert "ADAUSDT" in seen[-1][0]
    entered = set().union(*(members for members, _ in seen)) - seen[0][0]
    assert entered, "drift should bring at least one symbol over 4M within an hour"
    previous = seen[0][0]
    for members, volumes in seen[1:]:
        for symbol in members - previous:
            assert volumes[symbol] >= 4_000_000
        for symbol in previous - members:
            assert volumes.get(symbol, 0) < 2_000_000
        for symbol in members & previous:
            assert volumes.get(symbol, 2_000_000) >= 2_000_000
        previous = members
