"""Store writer: samples, alerts and universe changes into Postgres, in batches, losing nothing.

Receiving only appends to an in-memory buffer, so the pipeline never waits on the database.
A flusher writes the oldest rows first, one batch (COPY, idempotent) at a time, every
`FLUSH_EVERY_S` or as soon as `BATCH_ROWS` are waiting. While the database is down or slow the
buffer grows (bounded by `max_buffered_samples`, default over an hour at the full request rate)
and the same batch is retried with backoff until it lands. Only if the bound is reached are the
oldest samples dropped, counted and logged loudly. A clean shutdown flushes what is buffered.

The schema is migrated here, not before the service starts: with the database down at boot the
service still polls, serves and buffers, and the first flush follows the migration. Hourly, the
writer also creates partitions ahead and drops those older than the retention window.
"""

from __future__ import annotations

import logging
from collections import deque
from typing import TypeVar

import trio

from volspike_oi import metrics as m
from volspike_oi.clock import WallClock
from volspike_oi.messages import OiAlert, OiSample, UniverseUpdate
from volspike_oi.metrics import Metrics
from volspike_oi.snapshots import WriterStatus
from volspike_oi.store.protocol import StoreWriter, WriteBatch

log = logging.getLogger(__name__)

T = TypeVar("T")

FLUSH_EVERY_S = 1.0
BATCH_ROWS = 5000
RETRY_FIRST_S = 0.5
RETRY_MAX_S = 15.0
SHUTDOWN_FLUSH_S = 10.0
PARTITIONS_AHEAD_DAYS = 2
PARTITION_CHECK_S = 3600.0
"""How often partitions ahead are created and those past the retention window dropped."""
DISK_FULL = "53100"
"""Postgres' SQLSTATE for a full disk: an outage with a loud reason, retried like any other."""
DEFAULT_MAX_BUFFERED = 150_000
"""Over an hour of samples at the full 2400 requests a minute."""


async def run(
    store: StoreWriter,
    clock: WallClock,
    samples_in: trio.MemoryReceiveChannel[OiSample],
    alerts_in: trio.MemoryReceiveChannel[OiAlert],
    universe_in: trio.MemoryReceiveChannel[UniverseUpdate],
    status: WriterStatus,
    metrics: Metrics,
    *,
    max_buffered_samples: int = DEFAULT_MAX_BUFFERED,
    retention_days: int | None = None,
    task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
) -> None:
    samples: deque[OiSample] = deque()
    alerts: deque[OiAlert] = deque()
    universes: deque[UniverseUpdate] = deque()
    wake = trio.Event()
    schema_ready = trio.Event()

    def failed(exc: Exception, doing: str) -> None:
        """Record a database failure: the outage's start, its reason, one loud log line."""
        reason = f"{type(exc).__name__}: {exc}".strip()
        if getattr(exc, "sqlstate", None) == DISK_FULL:
            reason = f"DATABASE DISK FULL (SQLSTATE {DISK_FULL}): {reason}"
            log.error("%s failed: %s; buffering and retrying", doing, reason)
        elif status.down_since is None:
            log.error("%s failed (%s); buffering and retrying", doing, reason)
        if status.down_since is None:
            status.down_since = clock.now()
        status.last_error = reason
        metrics.inc(m.STORE_WRITE_FAILURES)

    async def migrate() -> None:
        retry_s = RETRY_FIRST_S
        while True:
            try:
                version = await store.migrate()
            except Exception as exc:  # the database is down at boot: the service runs anyway
                failed(exc, "schema migration")
                await trio.sleep(retry_s)
                retry_s = min(RETRY_MAX_S, retry_s * 2)
                continue
            log.info("database schema at version %d", version)
            schema_ready.set()
            return

    async def take_samples() -> None:
        nonlocal wake
        async for sample in samples_in:
            if len(samples) >= max_buffered_samples:
                samples.popleft()
                status.dropped += 1
                metrics.inc(m.STORE_DROPPED)
                if status.dropped == 1 or status.dropped % 10_000 == 0:
                    log.error(
                        "STORE BUFFER FULL (%d samples): %d samples dropped so far, oldest first; "
                        "the database has been unavailable since %s",
                        max_buffered_samples,
                        status.dropped,
                        status.down_since,
                    )
            samples.append(sample)
            status.buffered = len(samples)
            if len(samples) >= BATCH_ROWS:
                wake.set()

    async def take_alerts() -> None:
        async for alert in alerts_in:
            alerts.append(alert)

    async def take_universe() -> None:
        async for update in universe_in:
            universes.append(update)

    async def flush_once() -> bool:
        """Write the oldest batch; True if something was written, False if nothing waits."""
        batch = WriteBatch(
            samples=[samples[i] for i in range(min(BATCH_ROWS, len(samples)))],
            alerts=list(alerts),
            universes=list(universes),
        )
        if not len(batch):
            return False
        await store.write(batch)
        for _ in batch.samples:
            samples.popleft()
        for _ in batch.alerts:
            alerts.popleft()
        for _ in batch.universes:
            universes.popleft()
        status.written += len(batch.samples)
        status.buffered = len(samples)
        status.last_write_at = clock.now()
        metrics.inc(m.STORE_ROWS_WRITTEN, len(batch.samples))
        return True

    async def maintain_partitions() -> None:
        await schema_ready.wait()
        while True:
            try:
                await store.prepare_partitions(clock.now(), PARTITIONS_AHEAD_DAYS)
            except Exception as exc:  # the writer creates any missing day on demand anyway
                log.warning("could not create partitions ahead: %s", exc)
            if retention_days is not None:
                try:
                    dropped = await store.drop_partitions_before(
                        clock.now() - retention_days * 86_400
                    )
                except Exception as exc:  # retried next hour; only disk use grows meanwhile
                    log.error("retention: could not drop old partitions: %s", exc)
                else:
                    if dropped:
                        log.info(
                            "retention (%d days): dropped %s", retention_days, ", ".join(dropped)
                        )
            await trio.sleep(PARTITION_CHECK_S)

    async def flusher() -> None:
        nonlocal wake
        await schema_ready.wait()
        retry_s = RETRY_FIRST_S
        while True:
            with trio.move_on_after(FLUSH_EVERY_S):
                await wake.wait()
            wake = trio.Event()
            try:
                while await flush_once():
                    pass
            except Exception as exc:  # any database failure: keep the rows, retry later
                failed(exc, "database write")
                await trio.sleep(retry_s)
                retry_s = min(RETRY_MAX_S, retry_s * 2)
                continue
            if status.down_since is not None:
                log.info(
                    "database writes recovered after %.0f s; %d samples buffered meanwhile were written",
                    clock.now() - status.down_since,
                    status.written,
                )
                status.down_since = None
            retry_s = RETRY_FIRST_S

    try:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(take_samples)
            nursery.start_soon(take_alerts)
            nursery.start_soon(take_universe)
            nursery.start_soon(migrate)
            nursery.start_soon(flusher)
            nursery.start_soon(maintain_partitions)
            task_status.started()
    finally:
        # Shutdown (or a crash): take what is still queued in the channels, then give
        # everything buffered one bounded chance to land.
        _drain(samples_in, samples)
        _drain(alerts_in, alerts)
        _drain(universe_in, universes)
        with trio.CancelScope(shield=True), trio.move_on_after(SHUTDOWN_FLUSH_S) as scope:
            try:
                if not schema_ready.is_set():  # stopped before the database was first reached
                    await store.migrate()
                while await flush_once():
                    pass
            except Exception as exc:
                log.error("final flush failed: %s; %d samples not written", exc, len(samples))
        if scope.cancelled_caught:
            log.error("final flush timed out; %d samples not written", len(samples))


def _drain(channel: trio.MemoryReceiveChannel[T], into: deque[T]) -> None:
    while True:
        try:
            into.append(channel.receive_nowait())
        except (trio.WouldBlock, trio.EndOfChannel, trio.ClosedResourceError):
            return
