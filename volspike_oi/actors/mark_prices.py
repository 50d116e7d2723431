"""Mark-prices actor: every symbol's mark price from one source, never one call per symbol.

Primary: the `!markPrice@arr@1s` stream on the routed `/market` path (trio-websocket), whose
frames of one tick are merged into the `MarkPriceBook`; COIN-M rows (`st: 2`) are skipped. The
connection is renewed before Binance's 24 h cut and re-opened with jittered backoff when it
drops or goes quiet. Fallback: while the stream is stale, one `premiumIndex` call for all
symbols (weight 10) every `FALLBACK_EVERY_S`.
"""

from __future__ import annotations

import logging
import random
import ssl
from urllib.parse import urlsplit

import trio
from trio_websocket import (
    ConnectionClosed,
    HandshakeError,
    WebSocketConnection,
    wrap_client_stream,
)

from volspike_oi import metrics as m
from volspike_oi.clock import WallClock
from volspike_oi.venues.binance.client import BinanceClient, ExchangeError
from volspike_oi.venues.binance.decode import (
    DecodeError,
    MarkPriceFrame,
    PremiumIndex,
    decode,
    decode_list,
    parse_json,
)
from volspike_oi.mark_book import MarkPriceBook
from volspike_oi.metrics import Metrics

log = logging.getLogger(__name__)

STREAM_STALE_S = 5.0
"""No frame for this long: the stream is stale (it ticks every 1 s or 3 s)."""
FALLBACK_EVERY_S = 15.0
"""premiumIndex (all) while stale: 10 weight every 15 s = 40 weight a minute."""
RENEW_AFTER_S = 23.5 * 3600
"""Reconnect before Binance cuts the connection at 24 h."""
RECONNECT_MAX_S = 60.0
CONNECT_TIMEOUT_S = 10.0
_CONNECTION_FAILURES = (
    ConnectionClosed,
    HandshakeError,
    OSError,
    trio.TooSlowError,
    trio.BrokenResourceError,
)
MAX_MESSAGE_BYTES = 16 * 2**20
"""One all-market frame is ~150 KB for ~750 rows; leave room for growth."""


def stream_url(fstream_url: str, stream: str) -> str:
    return f"{fstream_url.rstrip('/')}/market/stream?streams={stream}"


async def _open_stream(url: str) -> trio.SocketStream | trio.SSLStream[trio.SocketStream]:
    """The TCP (or TLS) stream to `url`'s host. We own it, so it is closed on every path:
    trio-websocket 0.12 leaves the socket open when the server rejects the handshake."""
    parts = urlsplit(url)
    secure = parts.scheme == "wss"
    host = parts.hostname or ""
    port = parts.port or (443 if secure else 80)
    if secure:
        return await trio.open_ssl_over_tcp_stream(
            host, port, ssl_context=ssl.create_default_context(), https_compatible=True
        )
    return await trio.open_tcp_stream(host, port)


async def _stream_once(url: str, book: MarkPriceBook, clock: WallClock, metrics: Metrics) -> None:
    """One connection: merge frames into the book until it drops, goes quiet or needs renewal."""
    opened = clock.now()
    parts = urlsplit(url)
    resource = parts.path + (f"?{parts.query}" if parts.query else "")
    host = parts.netloc
    with trio.fail_after(CONNECT_TIMEOUT_S):
        stream = await _open_stream(url)
    async with stream, trio.open_nursery() as nursery:
        with trio.fail_after(CONNECT_TIMEOUT_S):
            ws = await wrap_client_stream(
                nursery, stream, host, resource, max_message_size=MAX_MESSAGE_BYTES
            )
        log.info("mark price stream connected: %s", url)
        try:
            await _receive_frames(ws, book, clock, metrics, opened)
        finally:
            nursery.cancel_scope.cancel()


async def _receive_frames(
    ws: WebSocketConnection, book: MarkPriceBook, clock: WallClock, metrics: Metrics, opened: float
) -> None:
    while clock.now() - opened < RENEW_AFTER_S:
        with trio.move_on_after(STREAM_STALE_S * 2) as quiet:
            message = await ws.get_message()
        if quiet.cancelled_caught:
            log.warning("mark price stream silent for %.0f s; reconnecting", STREAM_STALE_S * 2)
            return
        try:
            frame = decode(
                parse_json(message, "markPrice frame"), MarkPriceFrame, "markPrice frame"
            )
        except DecodeError as exc:
            metrics.inc(m.MALFORMED)
            log.warning("bad mark price frame skipped: %s", exc)
            continue
        for row in frame.data:
            if row.symbol_type == 1:
                book.update(row.symbol, row.mark_price, row.event_ms / 1000)
        book.last_stream_frame_at = clock.now()
        metrics.inc(m.MARK_STREAM_FRAMES)
    log.info("renewing the mark price stream before the 24 h cut")


async def _stream_forever(
    url: str, book: MarkPriceBook, clock: WallClock, metrics: Metrics, rng: random.Random
) -> None:
    delay = 1.0
    while True:
        started = clock.now()
        try:
            await _stream_once(url, book, clock, metrics)
        except* _CONNECTION_FAILURES as group:
            # The connection's nursery wraps what went wrong; any other error is a bug and
            # propagates to the supervisor.
            log.warning(
                "mark price stream dropped (%s)",
                ", ".join(sorted({type(e).__name__ for e in group.exceptions})),
            )
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
                rows = decode_list(await client.premium_index_all(), PremiumIndex, "premiumIndex")
            except (ExchangeError, DecodeError) as exc:
                log.warning("premiumIndex fallback failed: %s", exc)
            else:
                for row in rows:
                    book.update(row.symbol, row.mark_price, row.time_ms / 1000)
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
