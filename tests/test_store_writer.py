"""The store writer against a fake store: order, retries across an outage, the buffer bound,
and the final flush. MockClock is fine here: the fake store does no thread work."""

from __future__ import annotations

import datetime as dt
import logging
from decimal import Decimal

import pytest
import trio
import trio.lowlevel

from volspike_oi import metrics as m
from volspike_oi.actors import store_writer
from volspike_oi.clock import WallClock
from volspike_oi.messages import OiAlert, OiSample, UniverseUpdate
from volspike_oi.metrics import Metrics
from volspike_oi.snapshots import WriterStatus
from volspike_oi.store.protocol import WriteBatch


class FakeStore:
    def __init__(self) -> None:
        self.down = False
        self.samples: list[OiSample] = []
        self.alerts: list[OiAlert] = []
        self.attempts: list[float] = []
        self.unreachable = False
        """Down at boot: even the migration fails."""
        self.disk_full = False
        self.migrated = 0
        self.retention_cutoffs: list[float] = []

    async def write(self, batch: WriteBatch) -> int:
        self.attempts.append(trio.current_time())
        await trio.sleep(0.01)
        if self.down:
            raise ConnectionError("server closed the connection unexpectedly")
        if self.disk_full:
            raise DiskFull("could not extend file: No space left on device")
        self.samples.extend(batch.samples)
        self.alerts.extend(batch.alerts)
        return len(batch.samples)

    async def recent_samples(self, since: float) -> dict[str, list[tuple[float, float, float]]]:
        return {}

    async def last_alerts(self, since: float, source: str, venue: str = "binance") -> list[OiAlert]:
        return []

    async def prepare_partitions(self, now: float, days_ahead: int) -> None:
        return None

    async def migrate(self) -> int:
        await trio.sleep(0.01)
        if self.unreachable:
            raise ConnectionError("connection refused")
        self.migrated += 1
        return 1

    async def drop_partitions_before(self, cutoff: float) -> list[str]:
        self.retention_cutoffs.append(cutoff)
        return []


class DiskFull(Exception):
    """What psycopg raises on a full disk (psycopg.errors.DiskFull), as far as the writer sees."""

    sqlstate = "53100"


def sample(i: int) -> OiSample:
    return OiSample(f"S{i % 7}USDT", Decimal(i), i, float(i), Decimal(1), Decimal(i), "realtime")


class Rig:
    def __init__(
        self,
        nursery: trio.Nursery,
        store: FakeStore,
        max_buffered: int = 1000,
        retention_days: int | None = None,
    ) -> None:
        self.store, self.status, self.metrics = store, WriterStatus(), Metrics()
        self.samples_tx, samples_rx = trio.open_memory_channel[OiSample](100)
        self.alerts_tx, alerts_rx = trio.open_memory_channel[OiAlert](100)
        self.universe_tx, universe_rx = trio.open_memory_channel[UniverseUpdate](10)
        self.scope = trio.CancelScope()
        self.args = (
            store,
            WallClock(1_800_000_000, 0.0),
            samples_rx,
            alerts_rx,
            universe_rx,
            self.status,
            self.metrics,
        )
        self.max_buffered = max_buffered
        self.retention_days = retention_days
        self.nursery = nursery

    def outage_open(self) -> bool:
        # A call, not an attribute test, so the type checker does not narrow it between reads.
        return self.status.down_since is not None

    async def start(self) -> None:
        async def run() -> None:
            with self.scope:
                await store_writer.run(
                    *self.args,
                    max_buffered_samples=self.max_buffered,
                    retention_days=self.retention_days,
                )

        self.nursery.start_soon(run)
        await trio.lowlevel.checkpoint()


async def test_samples_are_written_in_order_within_a_second(nursery, autojump_clock):
    rig = Rig(nursery, FakeStore())
    await rig.start()
    for i in range(50):
        await rig.samples_tx.send(sample(i))
    await trio.sleep(1.1)
    assert [s.exchange_time_ms for s in rig.store.samples] == list(range(50))
    assert rig.status.written == 50


async def test_an_outage_keeps_every_sample_and_writes_them_in_order_on_recovery(
    nursery, autojump_clock
):
    store = FakeStore()
    rig = Rig(nursery, store)
    await rig.start()
    store.down = True
    for i in range(300):
        await rig.samples_tx.send(sample(i))
        await trio.sleep(0.2)  # a minute of polling while the database is down
    assert store.samples == []
    assert rig.outage_open()
    assert rig.status.buffered == 300
    gaps = [b - a for a, b in zip(store.attempts, store.attempts[1:], strict=False)]
    assert max(gaps) >= 8  # backing off, not hammering
    store.down = False
    await trio.sleep(20)
    assert [s.exchange_time_ms for s in store.samples] == list(range(300))
    assert not rig.outage_open()
    assert rig.status.dropped == 0


async def test_a_full_buffer_drops_the_oldest_samples_counts_them_and_says_so(
    nursery, autojump_clock, caplog: pytest.LogCaptureFixture
):
    store = FakeStore()
    store.down = True
    rig = Rig(nursery, store, max_buffered=100)
    await rig.start()
    with caplog.at_level(logging.ERROR):
        for i in range(150):
            await rig.samples_tx.send(sample(i))
        await trio.sleep(1)
    assert rig.status.dropped == 50
    assert rig.metrics.get(m.STORE_DROPPED) == 50
    assert any("STORE BUFFER FULL" in r.message for r in caplog.records)
    store.down = False
    await trio.sleep(20)
    assert [s.exchange_time_ms for s in store.samples] == list(range(50, 150))


async def test_shutdown_flushes_what_is_buffered(nursery, autojump_clock):
    store = FakeStore()
    rig = Rig(nursery, store)
    await rig.start()
    for i in range(20):
        rig.samples_tx.send_nowait(sample(i))
    await trio.lowlevel.checkpoint()  # received, not yet flushed (the flusher waits up to 1 s)
    rig.scope.cancel()
    await trio.sleep(0.5)
    assert len(store.samples) == 20


async def test_alerts_are_stored_with_the_samples(nursery, autojump_clock):
    rig = Rig(nursery, FakeStore())
    await rig.start()
    alert = OiAlert(
        "BTCUSDT", "UP", 100.0, 112.0, 0.12, 12.0, dt.datetime(2026, 1, 1).timestamp(), 30
    )
    await rig.alerts_tx.send(alert)
    await trio.sleep(1.1)
    assert rig.store.alerts == [alert]


async def test_a_database_down_at_boot_is_migrated_once_it_is_up_and_then_written(
    nursery, autojump_clock
):
    store = FakeStore()
    store.unreachable = True
    rig = Rig(nursery, store)
    await rig.start()
    for i in range(100):
        await rig.samples_tx.send(sample(i))
        await trio.sleep(0.3)
    assert store.attempts == []  # no write before the schema is there
    assert rig.outage_open()
    assert rig.status.last_error == "ConnectionError: connection refused"
    assert rig.status.buffered == 100
    store.unreachable = False
    await trio.sleep(20)
    assert store.migrated == 1
    assert [s.exchange_time_ms for s in store.samples] == list(range(100))
    assert not rig.outage_open()


async def test_a_full_disk_is_an_outage_with_a_loud_reason_and_is_retried(
    nursery, autojump_clock, caplog: pytest.LogCaptureFixture
):
    store = FakeStore()
    store.disk_full = True
    rig = Rig(nursery, store)
    await rig.start()
    with caplog.at_level(logging.ERROR):
        for i in range(10):
            await rig.samples_tx.send(sample(i))
        await trio.sleep(30)
    assert rig.outage_open()
    assert rig.status.last_error.startswith("DATABASE DISK FULL (SQLSTATE 53100): DiskFull")
    assert len(store.attempts) >= 3
    assert all("DATABASE DISK FULL" in r.message for r in caplog.records)
    assert len(caplog.records) == len(store.attempts)  # every failed attempt says so
    store.disk_full = False
    await trio.sleep(20)
    assert [s.exchange_time_ms for s in store.samples] == list(range(10))
    assert not rig.outage_open()


async def test_partitions_older_than_the_retention_window_are_dropped_hourly(
    nursery, autojump_clock
):
    store = FakeStore()
    rig = Rig(nursery, store, retention_days=30)
    await rig.start()
    await trio.sleep(2 * store_writer.PARTITION_CHECK_S + 1)
    start = 1_800_000_000
    assert store.retention_cutoffs == pytest.approx(
        [start + k * store_writer.PARTITION_CHECK_S - 30 * 86_400 for k in range(3)], abs=1
    )
