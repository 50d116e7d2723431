"""Specification of the alert evaluator actor: the gate survives restarts, only the liquid
universe alerts, and every verdict is counted.

Runs under `autojump_clock` with an in-memory store; the real Postgres path is in
tests/store/test_pipeline_store.py.
"""

from __future__ import annotations

import logging
import math
from decimal import Decimal

import pytest
import trio
import trio.testing

from tests.fakes import EmptyStore
from volspike_oi import metrics as m
from volspike_oi.actors import alert_evaluator
from volspike_oi.alerts import AlertRules
from volspike_oi.clock import WallClock
from volspike_oi.messages import (
    ALERT_SOURCE,
    HistoryBackfill,
    OiAlert,
    OiSample,
    SampleSource,
)
from volspike_oi.metrics import Metrics
from volspike_oi.snapshots import AlertState

T0 = 1_791_360_000.0
BASE = 50_000.0
PRICE = 95_000.0
RULES = AlertRules()


class AlertsOnlyStore(EmptyStore):
    """A store whose only content is `alerts` (or that is down)."""

    def __init__(self, alerts: list[OiAlert], *, down: bool = False) -> None:
        super().__init__()
        self.stored, self.down, self.asked_since = alerts, down, list[float]()

    async def last_alerts(self, since: float, source: str, venue: str = "binance") -> list[OiAlert]:
        self.asked_since.append(since)
        if self.down:
            raise ConnectionError("connection refused")
        return [a for a in self.stored if a.timestamp >= since and a.source == source]


def hour_before(symbol: str = "BTCUSDT") -> HistoryBackfill:
    rows = tuple((T0 - 300.0 * k, BASE, PRICE) for k in range(12, 0, -1))
    return HistoryBackfill(symbol, rows, "openInterestHist")


def sample(
    at_s: float, pct: float, symbol: str = "BTCUSDT", source: SampleSource = "realtime"
) -> OiSample:
    contracts = Decimal(repr(BASE * (1 + pct)))
    return OiSample(
        symbol, contracts, int((T0 + at_s) * 1000), T0 + at_s, Decimal(PRICE), None, source
    )


class Rig:
    def __init__(self, state: AlertState | None = None) -> None:
        self.state, self.metrics = state or AlertState(), Metrics()
        self.items_tx, self.items_rx = trio.open_memory_channel[OiSample | HistoryBackfill](100)
        self.alerts_tx, self.alerts_rx = trio.open_memory_channel[OiAlert](100)

    async def run(
        self, items: list[OiSample | HistoryBackfill], store: AlertsOnlyStore | None
    ) -> list[OiAlert]:
        """Start the evaluator (as after a restart at T0), feed `items`, stop it."""
        async with trio.open_nursery() as nursery:
            await nursery.start(self._evaluator, store)
            for item in items:
                await self.items_tx.send(item)
            await trio.testing.wait_all_tasks_blocked()
            nursery.cancel_scope.cancel()
        out = []
        while True:
            try:
                out.append(self.alerts_rx.receive_nowait())
            except trio.WouldBlock:
                return out

    async def _evaluator(
        self,
        store: AlertsOnlyStore | None,
        *,
        task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        await alert_evaluator.run(
            self.items_rx,
            [self.alerts_tx],
            self.state,
            self.metrics,
            WallClock(T0 + 60, trio.current_time()),
            rules=RULES,
            history_hours=3,
            min_interval_s=5,
            store=store,
            task_status=task_status,
        )


def alerted_before_restart(pct: float, at_s: float = 0.0) -> OiAlert:
    current = BASE * (1 + pct)
    return OiAlert(
        "BTCUSDT", "UP", BASE, current, pct, current - BASE, T0 + at_s, 12, source=ALERT_SOURCE
    )


async def test_after_a_restart_a_move_already_alerted_is_not_alerted_again(autojump_clock):
    store = AlertsOnlyStore([alerted_before_restart(0.08)])
    rig = Rig()
    assert await rig.run([hour_before(), sample(60, 0.08), sample(1000, 0.09)], store) == []
    assert rig.metrics.get(m.alerts_suppressed("cooldown")) == 1
    assert rig.metrics.get(m.alerts_suppressed("plateau")) == 1
    assert store.asked_since == [T0 + 60 - 3 * 3600]  # as far back as the history reaches


async def test_without_the_restored_gate_the_same_move_would_alert(autojump_clock):
    alerts = await Rig().run([hour_before(), sample(60, 0.08)], AlertsOnlyStore([]))
    assert [(a.symbol, a.direction) for a in alerts] == [("BTCUSDT", "UP")]


async def test_after_a_restart_an_escalation_beyond_the_stored_level_alerts(autojump_clock):
    store = AlertsOnlyStore([alerted_before_restart(0.06)])
    alerts = await Rig().run([hour_before(), sample(1000, 0.1101)], store)
    assert [a.pct_change for a in alerts] == [pytest.approx(0.1101)]


async def test_alerts_ingested_from_elsewhere_do_not_gate_ours(autojump_clock):
    foreign = OiAlert("BTCUSDT", "UP", BASE, BASE * 1.08, 0.08, 4000, T0, 0, source="external")
    alerts = await Rig().run([hour_before(), sample(60, 0.08)], AlertsOnlyStore([foreign]))
    assert len(alerts) == 1


async def test_with_the_database_down_at_start_the_gate_starts_empty_and_says_so(
    autojump_clock, caplog
):
    caplog.set_level(logging.WARNING)
    store = AlertsOnlyStore([alerted_before_restart(0.08)], down=True)
    alerts = await Rig().run([hour_before(), sample(60, 0.08)], store)
    assert len(alerts) == 1
    assert "alert gate starts empty: cannot read stored alerts" in caplog.text


async def test_a_crashed_evaluator_keeps_its_gate_without_asking_the_store(autojump_clock):
    state = AlertState()
    first = Rig(state)
    assert len(await first.run([hour_before(), sample(60, 0.08)], AlertsOnlyStore([]))) == 1
    store = AlertsOnlyStore([])
    assert await Rig(state).run([sample(120, 0.08)], store) == []
    assert store.asked_since == []


async def test_a_snapshot_sample_fills_history_but_never_alerts(autojump_clock):
    rig = Rig()
    items: list[OiSample | HistoryBackfill] = [
        hour_before("OTHERUSDT"),
        sample(60, 0.3, "OTHERUSDT", "snapshot"),
    ]
    assert await rig.run(items, None) == []
    assert len(rig.state.histories["OTHERUSDT"]) == 13
    assert rig.metrics.get(m.alerts_suppressed("not_liquid")) == 1
    assert rig.state.gate.fired == {}


async def test_an_alert_carries_its_context(autojump_clock):
    [alert] = await Rig().run([hour_before(), sample(60, 0.08)], None)
    assert alert.baseline_usd == pytest.approx(BASE * PRICE)
    assert alert.current_usd == pytest.approx(BASE * 1.08 * PRICE)
    assert alert.mark_price_change_pct == 0.0
    assert alert.window_minutes == 60


async def test_a_baseline_without_prices_gives_unknown_usd_never_zero(autojump_clock):
    priceless = HistoryBackfill(
        "BTCUSDT",
        tuple((T0 - 300.0 * k, BASE, math.nan) for k in range(12, 0, -1)),
        "openInterestHist",
    )
    [alert] = await Rig().run([priceless, sample(60, 0.08)], None)
    assert alert.baseline_usd is None
    assert alert.mark_price_change_pct is None
    assert alert.current_usd == pytest.approx(BASE * 1.08 * PRICE)
