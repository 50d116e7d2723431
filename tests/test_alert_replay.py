"""A scripted hour of OI replayed through the alert evaluator, counting alerts per rule.

Six liquid symbols and one other perp, with realistic contract counts and prices, each scripted
to meet one rule; the hour before comes as openInterestHist-style 5-minute rows, as after a
cold start. The evaluator actor runs under `autojump_clock` and counts each verdict in its
`Metrics` (what /metrics shows); the tables pin the counts, so a rule change shows its effect
as a number. The same hour is replayed with seed 001's example rules (5000 contracts, no USD
minimum) for comparison.
"""

from __future__ import annotations

import math
from decimal import Decimal

import attrs
import trio
import trio.testing

from volspike_oi import metrics as m
from volspike_oi.actors import alert_evaluator
from volspike_oi.alerts import SUPPRESSIONS, AlertRules
from volspike_oi.clock import WallClock
from volspike_oi.messages import HistoryBackfill, OiAlert, OiSample
from volspike_oi.metrics import Metrics
from volspike_oi.snapshots import AlertState

T0 = 1_791_360_000.0
"""The replayed hour starts here (2026-10-07 08:00:00 UTC)."""
HOUR_S = 3600.0
POLL_S = 10.0
"""Liquid symbols are polled every 10 s; the other perp every 5 minutes."""
SNAPSHOT_S = 300.0


@attrs.frozen
class Script:
    """One symbol's hour: contracts and mark price as functions of seconds since T0."""

    symbol: str
    contracts: float
    price: float | None
    liquid: bool = True
    backfilled: bool = True

    def oi_at(self, s: float) -> float:
        return self.contracts * _factor(self.symbol, s)

    def price_at(self, s: float) -> float | None:
        # A slow 0.5 % drift an hour: the context's markPriceChangePct has something to show.
        return None if self.price is None else self.price * (1 + 0.005 * s / HOUR_S)


def _factor(symbol: str, s: float) -> float:
    """The scripted OI moves, as a factor of the starting contracts."""
    if symbol == "BTCUSDT":  # +8 % at 10 min, +8 % again at 30 min, then a plateau
        return 1.0 + 0.08 * (s >= 600) + 0.0864 * (s >= 1800)
    if symbol == "ETHUSDT":  # a steady build-up of +10 % an hour, from the hour before on
        return 1.0 + 0.10 * s / HOUR_S
    if symbol in ("PENNYUSDT", "NOMARKUSDT", "OTHERUSDT", "NEWUSDT"):  # one step at 20 min
        return 1.09 if s >= 1200 else 1.0
    return 1.0


SCRIPTS = (
    Script("BTCUSDT", 50_000.0, 95_000.0),  # +8 % is 4,000 contracts, ~$380M
    Script("ETHUSDT", 2_000_000.0, 3_000.0),
    Script("PENNYUSDT", 2e9, 0.00004),  # +9 % is 180M contracts but $7,200
    Script("NOMARKUSDT", 5e6, None),  # never a fresh mark price
    Script("OTHERUSDT", 4e7, 0.5, liquid=False),  # +9 % is $1.8M, but outside the universe
    Script("NEWUSDT", 3e6, 2.0, backfilled=False),  # listed now: no hour before
)


def samples_of(script: Script) -> list[OiSample]:
    step = POLL_S if script.liquid else SNAPSHOT_S
    out = []
    for i in range(int(HOUR_S / step)):
        s = i * step
        price = script.price_at(s)
        contracts = Decimal(repr(round(script.oi_at(s), 3)))
        out.append(
            OiSample(
                symbol=script.symbol,
                contracts=contracts,
                exchange_time_ms=int((T0 + s) * 1000),
                received_at=T0 + s,
                mark_price=None if price is None else Decimal(repr(price)),
                usd=None if price is None else contracts * Decimal(repr(price)),
                source="realtime" if script.liquid else "snapshot",
            )
        )
    return out


def hour_before(script: Script) -> HistoryBackfill:
    """13 five-minute rows of the hour before T0, as the backfill sends them."""
    rows = []
    for k in range(12, 0, -1):
        s = -k * SNAPSHOT_S
        price = script.price_at(s)
        rows.append((T0 + s, script.oi_at(s), math.nan if price is None else price))
    return HistoryBackfill(script.symbol, tuple(rows), "openInterestHist")


@attrs.frozen
class Replay:
    alerts: list[OiAlert]
    counts: dict[str, int]
    """fired and every suppression, as the evaluator's Metrics counted them."""


async def replay(rules: AlertRules) -> Replay:
    """Feed the scripted hour to the evaluator actor at the samples' own times."""
    samples_tx, samples_rx = trio.open_memory_channel[OiSample | HistoryBackfill](10_000)
    alerts_tx, alerts_rx = trio.open_memory_channel[OiAlert](1000)
    metrics, start = Metrics(), trio.current_time()
    async with trio.open_nursery() as nursery:
        await nursery.start(_evaluator, samples_rx, alerts_tx, metrics, WallClock(T0, start), rules)
        for script in SCRIPTS:
            if script.backfilled:
                await samples_tx.send(hour_before(script))
        timeline = sorted(
            (s for script in SCRIPTS for s in samples_of(script)), key=lambda s: s.received_at
        )
        for sample in timeline:
            await trio.sleep_until(start + sample.received_at - T0)
            await samples_tx.send(sample)
        await trio.testing.wait_all_tasks_blocked()
        nursery.cancel_scope.cancel()
    alerts = []
    while True:
        try:
            alerts.append(alerts_rx.receive_nowait())
        except trio.WouldBlock:
            break
    counts = {"fired": metrics.get(m.ALERTS)}
    counts |= {reason: metrics.get(m.alerts_suppressed(reason)) for reason in SUPPRESSIONS}
    return Replay(alerts, counts)


async def _evaluator(
    samples_rx: trio.MemoryReceiveChannel[OiSample | HistoryBackfill],
    alerts_tx: trio.MemorySendChannel[OiAlert],
    metrics: Metrics,
    clock: WallClock,
    rules: AlertRules,
    *,
    task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
) -> None:
    await alert_evaluator.run(
        samples_rx,
        [alerts_tx],
        AlertState(),
        metrics,
        clock,
        rules=rules,
        history_hours=3,
        min_interval_s=5,
        task_status=task_status,
    )


def fired_by_symbol(alerts: list[OiAlert]) -> dict[str, list[float]]:
    """Minutes after T0 of each symbol's alerts."""
    out: dict[str, list[float]] = {}
    for a in alerts:
        out.setdefault(a.symbol, []).append(round((a.timestamp - T0) / 60, 2))
    return out


def table(title: str, counts: dict[str, int]) -> str:
    return "\n".join([title, *(f"  {rule:<22} {n:>5}" for rule, n in counts.items())])


async def test_the_scripted_hour_alerts_escalations_once_each_and_nothing_else(autojump_clock):
    result = await replay(AlertRules())
    print(table("issue 10 rules (USD 250,000, contracts off, escalation):", result.counts))
    assert fired_by_symbol(result.alerts) == {
        "BTCUSDT": [10.0, 30.0],  # each step at once; none on the plateau
        "ETHUSDT": [0.0, 27.83, 57.0],  # the build-up, each time +5 % of a baseline further
        "NEWUSDT": [45.0],  # once its own samples make a baseline (60–30 min, half covered)
    }
    assert [a.direction for a in result.alerts] == ["UP"] * 6
    assert result.counts == {
        "fired": 6,
        "insufficient_baseline": 270,  # NEWUSDT's first 45 minutes
        "contracts_gate": 0,  # off by default
        "usd_gate": 240,  # PENNYUSDT's 40 minutes at +9 %
        "unknown_mark_price": 240,  # NOMARKUSDT's
        "cooldown": 462,
        "plateau": 282,
        "not_liquid": 8,  # OTHERUSDT's 5-minute snapshots at +9 %
    }


async def test_alerts_carry_usd_levels_and_the_mark_price_move(autojump_clock):
    result = await replay(AlertRules())
    first_btc = next(a for a in result.alerts if a.symbol == "BTCUSDT")
    assert first_btc.window_minutes == 60
    assert first_btc.baseline_usd is not None
    assert first_btc.current_usd is not None
    assert 4.7e9 < first_btc.baseline_usd < 4.8e9  # 50,000 contracts at ~$95,000
    assert first_btc.current_usd > first_btc.baseline_usd * 1.08
    assert first_btc.mark_price_change_pct is not None
    assert 0 < first_btc.mark_price_change_pct < 0.005  # the drift over ~45 min


async def test_seed_example_rules_miss_btc_and_alert_the_penny_coin(autojump_clock):
    """The same hour under seed 001 §5.2's example (5000 contracts, no USD minimum): BTC's
    first +8 % step (4,000 contracts, ~$380M) is missed and only the two steps together
    (8,300 contracts) alert, while the penny coin's $7,200 alerts, and so does a coin without
    any price."""
    seed_rules = AlertRules(min_delta_contracts=5000, min_delta_usd=0)
    result = await replay(seed_rules)
    print(table("seed 001 example rules (5000 contracts, no USD minimum):", result.counts))
    fired = fired_by_symbol(result.alerts)
    assert fired["BTCUSDT"] == [30.0]
    assert result.counts["contracts_gate"] == 179  # BTC's first step, poll after poll
    assert fired["PENNYUSDT"] == [20.0]
    assert fired["NOMARKUSDT"] == [20.0]
    assert result.counts["usd_gate"] == result.counts["unknown_mark_price"] == 0
    assert result.counts["fired"] == 7
