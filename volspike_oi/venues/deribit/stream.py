"""One Deribit WebSocket session: heartbeats, `ticker.<instrument>.100ms` subscriptions and the
readings they carry.

JSON-RPC over `/ws/api/v2`. On each connect the session asks for heartbeats
(`public/set_heartbeat`, 10 s), subscribes to every instrument's ticker (in chunks) and calls
`task_status.started()` once every subscribe is acknowledged. The server then pushes
`{"method":"subscription","params":{"channel":…,"data":{…}}}`; each ticker carries the
instrument's full state (open_interest, mark_price, timestamp), so there is nothing to merge:
every push is one full reading. The server's `heartbeat` of type `test_request` must be answered
with `public/test`, or Deribit closes the connection. Every request we send costs credits like a
REST call, so it waits on the same limiter, all but that answer: it is due within the heartbeat
interval, so it must not wait out a hold after a REST refusal (one request in 10 s is far inside
the credit rate). A subscribe reply lists the channels accepted; the others are logged and left
out, and the accepted ones stream on.
"""

from __future__ import annotations

import itertools
import json
import logging
from collections.abc import Callable, Mapping
from contextlib import AbstractAsyncContextManager
from decimal import Decimal
from typing import Any

import attrs
import trio
from trio_websocket import (
    ConnectionClosed,
    DisconnectionTimeout,
    HandshakeError,
    WebSocketConnection,
)

from volspike_oi.ratelimit import RateLimiter
from volspike_oi.venues import websocket
from volspike_oi.venues.deribit.decode import (
    TOO_MANY_REQUESTS,
    decode_ticker,
    is_test_request,
    notification,
    parse_json,
    rpc_error,
)
from volspike_oi.venues.errors import VenueDecodeError, VenueRateLimited, VenueStreamDropped
from volspike_oi.venues.model import Instrument, VenueReading

log = logging.getLogger(__name__)

HEARTBEAT_INTERVAL_S = 10
"""Deribit's minimum: the quietest healthy connection still speaks every 10 s."""
TICKER_INTERVAL = "100ms"
"""`raw` needs authentication; `100ms` is the fastest public ticker (`agg2` is coarser)."""
SUBSCRIBE_CHUNK = 100
CONNECT_TIMEOUT_S = 10.0
MAX_MESSAGE_BYTES = 4 * 2**20
"""A ticker push is ~1 KB; a subscribe reply lists every channel (~40 B each)."""
_CONNECTION_FAILURES = (
    ConnectionClosed,
    HandshakeError,
    DisconnectionTimeout,
    OSError,
    trio.TooSlowError,
    trio.BrokenResourceError,
)


def open_websocket(url: str) -> AbstractAsyncContextManager[WebSocketConnection]:
    """A WebSocket to `url` on a stream we own (`venues/websocket.py` says why), abandoned
    without a closing handshake on the way out."""
    return websocket.open_websocket(
        url, connect_timeout_s=CONNECT_TIMEOUT_S, max_message_bytes=MAX_MESSAGE_BYTES
    )


def reading_of(
    instrument: Instrument, contracts: Decimal, mark: Decimal | None, time_ms: int | None
) -> VenueReading:
    """A reading in the venue-neutral units; a mark ≤ 0 is unknown (None), never 0."""
    mark_price = mark if mark is not None and mark > 0 else None
    return VenueReading(
        symbol=instrument.symbol,
        asset=instrument.asset,
        contracts=contracts,
        coin=instrument.coin(contracts, mark_price),
        mark_price=mark_price,
        exchange_time_ms=time_ms,
    )


def channel_of(symbol: str) -> str:
    return f"ticker.{symbol}.{TICKER_INTERVAL}"


@attrs.frozen
class _Ended:
    """Why a session ended: dropped (reason) or refused for rate (detail)."""

    reason: str
    refused: bool = False


@attrs.define
class StreamSession:
    """One `DeribitClient.stream` call: connect, ask for heartbeats, subscribe, relay readings."""

    instruments: Mapping[str, Instrument]
    send: trio.MemorySendChannel[VenueReading]
    limiter: RateLimiter
    stale_after_s: float
    on_refusal: Callable[[str], VenueRateLimited]
    """`DeribitClient.refused`: holds the shared limiter, returns the error to raise."""
    bad_frames: int = 0
    refused_channels: set[str] = attrs.Factory(set)
    """Channels Deribit left out of a subscribe reply (an instrument delisted since listing)."""
    _ids: itertools.count[int] = attrs.Factory(lambda: itertools.count(1))

    async def run(
        self,
        url: str,
        connect: Callable[[str], AbstractAsyncContextManager[Any]],
        task_status: trio.TaskStatus[None],
    ) -> None:
        """One connection until it ends; always raises (`VenueStreamDropped`, or
        `VenueRateLimited` when Deribit refused a request for rate)."""
        ended = _Ended("connection ended")
        try:
            async with connect(url) as ws:
                ended = await self._session(ws, task_status)
        except* _CONNECTION_FAILURES as group:
            # The connection's nursery wraps what went wrong; any other error is a bug.
            causes = sorted({type(e).__name__ for e in group.exceptions})
            raise VenueStreamDropped(f"deribit stream: {', '.join(causes)}") from None
        if ended.refused:
            raise self.on_refusal(ended.reason)
        raise VenueStreamDropped(f"deribit stream: {ended.reason}")

    async def _request(
        self, ws: Any, method: str, params: dict[str, Any], *, limited: bool = True
    ) -> int:
        """Send one request; `limited=False` skips the shared limiter (the heartbeat answer)."""
        if limited:
            await self.limiter.acquire()
        request_id = next(self._ids)
        message = {"jsonrpc": "2.0", "id": request_id, "method": method, "params": params}
        try:
            await ws.send_message(json.dumps(message, separators=(",", ":")))
        except (ConnectionClosed, trio.BrokenResourceError):
            # Deribit answers a refusal and then closes: keep reading, so the reply that says
            # why (10028) is seen before the closed connection is.
            log.info("deribit stream: %s not sent, the connection is closing", method)
        return request_id

    async def _session(self, ws: Any, task_status: trio.TaskStatus[None]) -> _Ended:
        await self._request(ws, "public/set_heartbeat", {"interval": HEARTBEAT_INTERVAL_S})
        channels = [channel_of(s) for s in self.instruments]
        unacked: dict[int, list[str]] = {}
        for i in range(0, len(channels), SUBSCRIBE_CHUNK):
            chunk = channels[i : i + SUBSCRIBE_CHUNK]
            unacked[await self._request(ws, "public/subscribe", {"channels": chunk})] = chunk
        started = False
        if not unacked:
            task_status.started()
            started = True
        while True:
            with trio.move_on_after(self.stale_after_s) as quiet:
                message = await ws.get_message()
            if quiet.cancelled_caught:
                log.warning("deribit stream silent for %.1f s; dropping it", self.stale_after_s)
                return _Ended(f"silent for {self.stale_after_s:g} s")
            try:
                doc = parse_json(message, "deribit stream")
                if is_test_request(doc):
                    await self._request(ws, "public/test", {}, limited=False)
                    continue
                note = notification(doc)
                if note is None:
                    ended = self._reply(doc, unacked)
                    if ended is not None:
                        return ended
                    if not started and not unacked:
                        task_status.started()
                        started = True
                    continue
                if not note.channel.startswith("ticker."):
                    continue
                ticker = decode_ticker(note.data)
            except VenueDecodeError as exc:
                # One bad frame is not a dead connection: staleness still guards the stream.
                self.bad_frames += 1
                log.warning("deribit stream: skipping a bad frame: %s", exc)
                continue
            instrument = self.instruments.get(ticker.instrument_name)
            if instrument is not None:
                await self.send.send(
                    reading_of(
                        instrument, ticker.open_interest, ticker.mark_price, ticker.timestamp
                    )
                )

    def _reply(self, doc: Any, unacked: dict[int, list[str]]) -> _Ended | None:
        """A reply to one of our requests (or a heartbeat): None to go on, else why to stop."""
        error = rpc_error(doc)
        if error is not None:
            if error.code == TOO_MANY_REQUESTS:
                return _Ended(f"WebSocket error {error.code} {error.message}", refused=True)
            return _Ended(f"request refused: {error.code} {error.message}")
        request_id = doc.get("id") if isinstance(doc, dict) else None
        if isinstance(request_id, int) and request_id in unacked:
            self._accepted(unacked.pop(request_id), doc.get("result"))
        return None

    def _accepted(self, chunk: list[str], result: Any) -> None:
        """Log (and remember) the channels of `chunk` that a subscribe reply left out."""
        accepted = {c for c in result if isinstance(c, str)} if isinstance(result, list) else set()
        refused = [c for c in chunk if c not in accepted]
        if refused:
            self.refused_channels.update(refused)
            log.warning(
                "deribit stream: %d of %d channels not subscribed, streaming the rest: %s",
                len(refused),
                len(chunk),
                ", ".join(refused[:20]),
            )
