"""Mark-prices actor: every symbol's mark price from one source, never one call per symbol.

Primary: the `!markPrice@arr@1s` stream (`venues/binance/mark_price_stream.py`), whose frames of
one tick are merged into the `MarkPriceBook`; COIN-M rows (`st: 2`) are skipped. The connection
is renewed before Binance's 24 h cut and re-opened with jittered backoff when it drops or goes
quiet. Fallback: while the stream is stale, one `premiumIndex` call for all symbols (weight 10)
every `FALLBACK_EVERY_S`.
"""

from __future__ import annotations

import logging
import random

import trio

from volspike_oi import metrics as m
from volspike_oi.clock import WallClock
from volspike_oi.mark_book import MarkPriceBook
from volspike_oi.metrics import Metrics
from volspike_oi.venues.binance.client import BinanceClient
from volspike_oi.venues.binance.decode import MarkPriceFrame
from volspike_oi.venues.binance.errors import DecodeError, ExchangeError
from volspike_oi.venues.binance.mark_price_stream import StreamDropped, follow_stream, stream_url

log = logging.getLogger(__name__)

STREAM_STALE_S = 5.0
"""No frame for this long: the stream is stale (it ticks every 1 s or 3 s)."""
FALLBACK_EVERY_S = 15.0
"""premiumIndex (all) while stale: 10 weight every 15 s = 40 weight a minute."""
RENEW_AFTER_S = 23.5 * 3600
"""Reconnect before Binance cuts the connection at 24 h."""
RECONNECT_MAX_S = 60.0


async def _stream_once(url: str, book: MarkPriceBook, clock: WallClock, metrics: Metrics) -> None:
    """One connection: merge frames into the book until it drops, goes quiet or needs renewal."""
    opened = clock.now()

    def on_frame(frame: MarkPriceFrame) -> None:
        received_at = clock.now()
        for row in frame.data:
            if row.symbol_type == 1:
                book.update(row.symbol, row.mark_price, row.event_ms / 1000, received_at)
        book.last_stream_frame_at = clock.now()
        metrics.inc(m.MARK_STREAM_FRAMES)

    def on_bad_frame(exc: DecodeError) -> None:
        metrics.inc(m.MALFORMED)
        log.warning("bad mark price frame skipped: %s", exc)

    def renew_due() -> bool:
        return clock.now() - opened >= RENEW_AFTER_S

    await follow_stream(url, on_frame, on_bad_frame, quiet_s=STREAM_STALE_S * 2, until=renew_due)
    if renew_due():
        log.info("renewing the mark price stream before the 24 h cut")


async def _stream_forever(
    url: str, book: MarkPriceBook, clock: WallClock, metrics: Metrics, rng: random.Random
) -> None:
    delay = 1.0
    while True:
        started = clock.now()
        try:
            await _stream_once(url, book, clock, metrics)
        except StreamDropped as exc:
            log.warning("mark price stream dropped (%s)", exc)
        metrics.inc(m.MARK_STREAM_RECONNECTS)
        if clock.now() - started > 60:
            delay = 1.0
        await trio.sleep(rng.uniform(0.5, 1.0) * delay)
        delay = min(RECONNECT_MAX_S, delay * 2)


async def _rest_fallback(
    client: BinanceClient, book: MarkPriceBook, clock: WallClock, metrics: Metrics
) -> None:
    while True:
        now = clock.now()
        if (
            now - book.last_stream_frame_at > STREAM_STALE_S
            and now - book.last_rest_refresh_at >= FALLBACK_EVERY_S
        ):
            try:
                rows = await client.premium_index_all()
            except ExchangeError as exc:
                log.warning("premiumIndex fallback failed: %s", exc)
            else:
                received_at = clock.now()
                for row in rows:
                    book.update(row.symbol, row.mark_price, row.time_ms / 1000, received_at)
                book.last_rest_refresh_at = clock.now()
                metrics.inc(m.MARK_REST_FALLBACKS)
        await trio.sleep(1.0)


async def run(
    client: BinanceClient,
    book: MarkPriceBook,
    clock: WallClock,
    metrics: Metrics,
    *,
    fstream_url: str,
    stream: str,
    use_stream: bool = True,
    rng: random.Random | None = None,
    task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
) -> None:
    async with trio.open_nursery() as nursery:
        if use_stream:
            nursery.start_soon(
                _stream_forever,
                stream_url(fstream_url, stream),
                book,
                clock,
                metrics,
                rng or random.Random(),
            )
        nursery.start_soon(_rest_fallback, client, book, clock, metrics)
        task_status.started()
