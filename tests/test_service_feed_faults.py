"""The service when the exchange's data goes bad: 5xx and timeouts, an exchange that is down,
an invalid symbol, a mark price stream that drops or must be renewed, a clock a minute behind.

Each test runs the whole service against the in-process simulator for a few simulated minutes
under `autojump_clock` (see tests/service_harness.py). Shared IP weight and the exchange's
refusals (429, 418, 403) are in tests/test_service_reliability.py; the two files are apart so
that pytest-xdist (`--dist loadfile`) can run them on different workers.
"""

from __future__ import annotations

import attrs
import trio

from tests.conftest import START_MS
from tests.service_harness import largest_gap_s, start_stack
from volspike_oi import metrics as m
from volspike_oi.actors import mark_prices
from volspike_oi.sim.binance import parse_scenario


async def test_usd_values_stay_known_when_the_exchange_clock_is_a_minute_behind(
    nursery, autojump_clock
):
    stack = await start_stack(nursery, sim={"start_ms": START_MS - 61_000})
    await trio.sleep(90)
    later = [
        s
        for samples in stack.recorder.samples.values()
        for s in samples
        if s.received_at > START_MS / 1000 + 30
    ]
    assert len(later) > 1000
    assert all(s.usd is not None for s in later)


async def test_usd_values_keep_flowing_from_rest_after_the_stream_drops(nursery, autojump_clock):
    stack = await start_stack(nursery)
    await trio.sleep(60)
    frames_before = stack.service.metrics.get(m.MARK_STREAM_FRAMES)
    assert frames_before > 0
    fallbacks_before = stack.service.metrics.get(m.MARK_REST_FALLBACKS)
    dropped_at = START_MS / 1000 + 60
    stack.sim.set_faults(attrs.evolve(stack.sim.faults, ws_down=True))
    await trio.sleep(5)  # frames already in flight when the host went down may still land
    frames_before = stack.service.metrics.get(m.MARK_STREAM_FRAMES)
    await trio.sleep(175)
    later = [
        s
        for samples in stack.recorder.samples.values()
        for s in samples
        if s.received_at > dropped_at + 10
    ]
    assert len(later) > 4000
    assert all(s.usd is not None and s.mark_price is not None for s in later)
    assert stack.service.metrics.get(m.MARK_REST_FALLBACKS) - fallbacks_before >= 10  # every 15 s
    assert stack.service.metrics.get(m.MARK_STREAM_FRAMES) == frames_before
    assert stack.service.status.last_minute["mark_source"] == "rest-fallback"
    # The stream comes back: frames flow again and the fallback stops.
    stack.sim.set_faults(attrs.evolve(stack.sim.faults, ws_down=False))
    await trio.sleep(120)
    assert stack.service.metrics.get(m.MARK_STREAM_FRAMES) > frames_before
    assert stack.service.status.last_minute["mark_source"] == "stream"


async def test_an_invalid_symbol_is_dropped_until_the_tracked_set_changes(nursery, autojump_clock):
    # BTCUSDT vanishes from the exchange at minute 2 (-1121) while exchangeInfo (every 15 min)
    # still lists it: one failed poll, then no more requests for it.
    scenario = parse_scenario(
        {"events": [{"type": "delisting", "at_min": 2, "symbol": "BTCUSDT", "remove": True}]}
    )
    stack = await start_stack(nursery, scenario=scenario)
    await trio.sleep(6 * 60)
    assert "BTCUSDT" in stack.service.poller.quarantined
    assert stack.service.metrics.get(m.INVALID_SYMBOL) == 1
    assert stack.sim.stats.by_status.get(400, 0) == 1
    last = stack.recorder.samples["BTCUSDT"][-1].received_at
    assert last <= START_MS / 1000 + 120


async def test_server_errors_and_timeouts_cost_one_turn_and_build_no_backlog(
    nursery, autojump_clock
):
    stack = await start_stack(nursery, sim={"error_rate": 0.05, "hang_rate": 0.005})
    await trio.sleep(5 * 60)
    metrics = stack.service.metrics
    assert metrics.get(m.HTTP_5XX) > 100
    assert metrics.get(m.TIMEOUTS) > 10
    assert all(h.restarts == 0 for h in stack.service.health.values())
    plan = stack.service.poller.plan
    universe = stack.service.status.universe
    assert plan is not None
    assert universe is not None
    start = START_MS / 1000
    gaps = sorted(
        largest_gap_s(stack.recorder.samples[s], start + 60) for s in universe.liquid_symbols
    )
    # A failed poll costs its symbol one turn; nothing piles up behind it, so the typical
    # largest gap is two intervals and none is much longer.
    assert gaps[len(gaps) // 2] <= 2.2 * plan.liquid_interval_s
    assert gaps[-1] <= 5 * plan.liquid_interval_s
    last_minute = [
        ms
        for times in stack.sim.stats.oi_request_ms.values()
        for ms in times
        if ms >= START_MS + 4 * 60_000
    ]
    assert len(last_minute) >= 0.9 * plan.polls_per_min  # successes ≈ plan × (1 − error rate)


async def test_polling_pauses_with_backoff_while_the_exchange_is_down(nursery, autojump_clock):
    stack = await start_stack(nursery)
    await trio.sleep(60)
    stack.sim.set_faults(attrs.evolve(stack.sim.faults, error_rate=1.0))
    down_from = START_MS + 60_000
    await trio.sleep(120)

    def oi_requests(after_ms: int, before_ms: int) -> int:
        return sum(
            1
            for ms, endpoint, _ in stack.sim.stats.request_log
            if endpoint == "/fapi/v1/openInterest" and after_ms <= ms < before_ms
        )

    # Not the ~3960 a full-speed schedule would send in 2 minutes: 20 failures, then probes.
    assert oi_requests(down_from, down_from + 120_000) < 300
    stack.sim.set_faults(attrs.evolve(stack.sim.faults, error_rate=0.0))
    await trio.sleep(140)
    # Back at full speed once the pause under way (60 s at most) ends: a normal minute.
    assert oi_requests(down_from + 200_000, down_from + 260_000) >= 0.95 * 1980


async def test_the_mark_price_stream_is_renewed_before_the_24_h_cut(
    nursery, autojump_clock, monkeypatch
):
    monkeypatch.setattr(mark_prices, "RENEW_AFTER_S", 50.0)  # 23.5 h in production
    stack = await start_stack(nursery, sim={"symbols": 20})
    await trio.sleep(170)
    assert stack.sim.stats.ws_connections_opened >= 4
    assert stack.service.metrics.get(m.MARK_STREAM_RECONNECTS) >= 3
    assert stack.service.status.last_minute["mark_source"] == "stream"
