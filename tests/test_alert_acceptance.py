"""Issue 10's acceptance test: alerts a trader can trust, end to end against the simulator.

The whole service runs under `autojump_clock` without a store (a fresh start: the backfill
fills the baseline from openInterestHist), with OI_ALERT_COOLDOWN_SEC=60 and every other
alert setting at its default (5 %, USD 250,000, contracts off). The market, scripted:

- BTCUSDT (50,000 contracts at ~$83,000) steps +8 % at 4 min and +8 % again at 10 min,
  then holds: two UP alerts, one per step, none on the plateau. Each step is ~4,000 and
  ~4,300 contracts, under seed 001's example minimum of 5000, worth ~$330M and ~$360M.
- DOGEUSDT, liquid, is set to 3,000,000 contracts at ~$0.15: its +9 % at 7 min is 270,000
  contracts but ~$41,000, under the USD minimum: no alert, counted by the USD gate.
- LTCUSDT leaves the liquid universe in the first minute (24h volume pinned at 1M, under the
  2M exit) and jumps +30 % (tens of millions of dollars) at 9 min: its 5-minute snapshots
  keep filling its history, but it never alerts.
"""

from __future__ import annotations

import trio

from tests.conftest import START_MS
from tests.service_harness import NO_STREAM, start_stack
from volspike_oi import metrics as m
from volspike_oi.sim.binance import BinanceSim, parse_scenario

START_S = START_MS / 1000
BTC_CONTRACTS, BTC_STEPS_S = 50_000.0, (4 * 60, 10 * 60)
PENNY, PENNY_CONTRACTS, PENNY_STEP_S = "DOGEUSDT", 3_000_000.0, 7 * 60
OUTSIDER, OUTSIDER_STEP_S = "LTCUSDT", 9 * 60
RUN_S = 16 * 60
"""Long enough for the outsider's next 5-minute snapshot after its move."""


def set_open_interest(sim: BinanceSim) -> None:
    """BTC at a realistic 50,000 contracts; DOGE with hundreds of thousands of dollars of open
    interest instead of hundreds of millions: many contracts, few dollars."""
    for symbol, contracts in (("BTCUSDT", BTC_CONTRACTS), (PENNY, PENNY_CONTRACTS)):
        state = sim.market.symbols[symbol]
        state.spec.open_interest = state.open_interest = contracts


async def test_btc_steps_alert_once_each_and_penny_moves_and_outsiders_never(
    nursery, autojump_clock
):
    scenario = parse_scenario(
        {
            "events": [
                *(
                    {"type": "oi_change", "at_s": at_s, "symbol": "BTCUSDT", "pct": 8}
                    for at_s in BTC_STEPS_S
                ),
                {"type": "oi_change", "at_s": PENNY_STEP_S, "symbol": PENNY, "pct": 9},
                {"type": "quote_volume", "at_s": 1, "symbol": OUTSIDER, "usdt": 1_000_000},
                {"type": "oi_change", "at_s": OUTSIDER_STEP_S, "symbol": OUTSIDER, "pct": 30},
            ]
        }
    )
    stack = await start_stack(
        nursery,
        scenario=scenario,
        sim={"symbols": 60},
        env={**NO_STREAM, "OI_ALERT_COOLDOWN_SEC": "60"},
        prepare_sim=set_open_interest,
    )
    await trio.sleep(RUN_S)
    service, alerts = stack.service, stack.recorder.alerts
    plan, universe = service.poller.plan, service.status.universe
    assert plan is not None
    assert universe is not None
    assert {"BTCUSDT", PENNY} <= universe.liquid_symbols
    assert OUTSIDER not in universe.liquid_symbols

    # Two UP alerts for BTC, each within two poll intervals of its step; none on the plateau.
    btc = [a for a in alerts if a.symbol == "BTCUSDT"]
    assert [a.direction for a in btc] == ["UP", "UP"], btc
    for alert, step_s in zip(btc, BTC_STEPS_S, strict=True):
        delay_s = alert.timestamp - (START_S + step_s)
        print(
            f"BTC step at {step_s} s: alert after {delay_s:.1f} s ({plan.liquid_interval_s} s polls)"
        )
        assert 0 <= delay_s <= 2 * plan.liquid_interval_s, plan
    first, second = btc
    assert 0.06 <= first.pct_change <= 0.10  # +8 % against a baseline that wobbles ~1 %
    assert 0.14 <= second.pct_change <= 0.19  # both steps against the same baseline
    assert first.abs_change < 5000  # the old contract minimum would have missed it
    assert first.usd_change is not None
    assert first.usd_change > 250_000_000
    assert first.window_minutes == 60
    assert first.baseline_usd is not None
    assert first.current_usd is not None
    assert first.mark_price_change_pct is not None

    # The penny coin's +9 % was judged and held back by the USD minimum, the outsider's +30 %
    # by the universe rule; nothing else alerted.
    penny = [s for s in stack.recorder.samples[PENNY] if s.received_at >= START_S + PENNY_STEP_S]
    moved = float(penny[-1].contracts) - PENNY_CONTRACTS
    assert 100_000 < moved < 1_000_000
    assert penny[-1].usd is not None
    assert float(penny[-1].usd) < 600_000
    assert service.metrics.get(m.alerts_suppressed("usd_gate")) > 0
    outsider = [
        s for s in stack.recorder.samples[OUTSIDER] if s.received_at > START_S + OUTSIDER_STEP_S
    ]
    assert outsider
    assert {s.source for s in outsider} == {"snapshot"}
    assert service.metrics.get(m.alerts_suppressed("not_liquid")) > 0
    assert [a for a in alerts if a.symbol != "BTCUSDT"] == []
    assert service.metrics.get(m.ALERTS) == 2
