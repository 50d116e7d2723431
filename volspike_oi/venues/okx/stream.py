"""One connection to OKX's public WebSocket (`/ws/v5/public`): subscribe every swap to the
`open-interest` and `mark-price` channels, keep the connection alive, and turn pushes into full
readings.

OKX pushes `open-interest` every 3 s when it changed and `mark-price` every 200 ms on a change
(every 10 s otherwise), one instrument per message, each a full value (no deltas to merge but
the two channels: a reading joins the newest OI with the newest mark). OKX closes a connection
that stays silent for 30 s; the client sends the text "ping" after `ping_idle_s` without a
message and the server answers "pong". Anything else that ends the connection surfaces as one
`VenueStreamDropped`, never an exception group; reconnecting is the caller's job.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping
from contextlib import AbstractAsyncContextManager
from decimal import Decimal
from typing import Any

import attrs
import trio
from trio_websocket import ConnectionClosed, HandshakeError, WebSocketConnection

from volspike_oi.venues.decoding import parse_json
from volspike_oi.venues.errors import VenueDecodeError, VenueStreamDropped
from volspike_oi.venues.model import Instrument, VenueReading
from volspike_oi.venues.okx.decode import (
    EventMessage,
    MarkPricePush,
    OpenInterestPush,
    OpenInterestRow,
    decode,
)

log = logging.getLogger(__name__)

CHANNELS = ("open-interest", "mark-price")
CONNECT_TIMEOUT_S = 10.0
MAX_MESSAGE_BYTES = 2**20
"""A push is ~200 bytes; one MiB leaves room for anything OKX adds."""
MAX_ARGS_BYTES = 60_000
"""OKX accepts at most 64 KB of `args` per request; ~60 B per arg is ~1000 args a request,
so a full universe (~250 swaps × 2 channels) is one subscribe op of the 480 allowed per hour."""
ACK_TIMEOUT_S = 10.0
PING_IDLE_S = 15.0
"""OKX: send "ping" when nothing arrived for N < 30 s."""
STALE_AFTER_S = 25.0
"""No message, not even the "pong", for this long after the last one: the connection is dead
(OKX itself gives up after 30 s of silence)."""
_CONNECTION_FAILURES = (
    ConnectionClosed,
    HandshakeError,
    OSError,
    trio.TooSlowError,
    trio.BrokenResourceError,
    VenueStreamDropped,
)

WebSocketOpener = Callable[[str], AbstractAsyncContextManager[WebSocketConnection]]


def subscribe_requests(symbols: list[str]) -> list[str]:
    """`{"op":"subscribe","args":[…]}` texts, each within OKX's 64 KB of args."""
    out: list[str] = []
    batch: list[dict[str, str]] = []
    size = 0
    for symbol in symbols:
        for channel in CHANNELS:
            arg = {"channel": channel, "instId": symbol}
            arg_size = len(json.dumps(arg, separators=(",", ":"))) + 1
            if batch and size + arg_size > MAX_ARGS_BYTES:
                out.append(_subscribe(batch))
                batch, size = [], 0
            batch.append(arg)
            size += arg_size
    if batch:
        out.append(_subscribe(batch))
    return out


def _subscribe(args: list[dict[str, str]]) -> str:
    return json.dumps({"op": "subscribe", "args": args}, separators=(",", ":"))


def reading(instrument: Instrument, row: OpenInterestRow, mark: Decimal | None) -> VenueReading:
    """`oi` counts contracts; coin = contracts × ctVal × ctMult (`Instrument.coin_per_contract`).
    OKX's own `oiCcy` agrees (BTC-USDT-SWAP: oi/oiCcy = 100 = 1/ctVal 0.01), but the contracts
    are what OKX counts, so they are the source. USD = coin × OKX's own mark price (positive, or
    unknown: never 0)."""
    price = mark if mark is not None and mark > 0 else None
    return VenueReading(
        symbol=instrument.symbol,
        asset=instrument.asset,
        contracts=row.oi,
        coin=instrument.coin(row.oi, price),
        mark_price=price,
        exchange_time_ms=row.ts_ms,
    )


@attrs.define
class _Latest:
    oi: OpenInterestRow | None = None
    mark: Decimal | None = None
    sent_without_mark: bool = False


@attrs.define
class ReadingMerger:
    """The newest OI and mark per swap. An OI push gives a reading at once; a mark push gives
    one only when the last reading lacked a price (USD shows as soon as it is known) — mark
    pushes arrive up to 5 a second per swap and would otherwise flood the pipeline with
    readings whose OI did not change."""

    instruments: Mapping[str, Instrument]
    _latest: dict[str, _Latest] = attrs.Factory(dict)

    def on_open_interest(self, row: OpenInterestRow) -> VenueReading | None:
        instrument = self.instruments.get(row.inst_id)
        if instrument is None:
            return None
        latest = self._latest.setdefault(row.inst_id, _Latest())
        latest.oi = row
        out = reading(instrument, row, latest.mark)
        latest.sent_without_mark = out.mark_price is None
        return out

    def on_mark_price(self, symbol: str, mark: Decimal) -> VenueReading | None:
        instrument = self.instruments.get(symbol)
        if instrument is None or mark <= 0:
            return None
        latest = self._latest.setdefault(symbol, _Latest())
        latest.mark = mark
        if latest.oi is None or not latest.sent_without_mark:
            return None
        latest.sent_without_mark = False
        return reading(instrument, latest.oi, mark)


async def follow(
    connect_ws: WebSocketOpener,
    url: str,
    instruments: Mapping[str, Instrument],
    send: trio.MemorySendChannel[VenueReading],
    *,
    stale_after_s: float,
    ping_idle_s: float,
    task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Connect, subscribe, `task_status.started()` once every subscription is acknowledged, then
    send readings until the connection fails (`VenueStreamDropped`) or the caller cancels."""
    try:
        async with connect_ws(url) as ws:
            await _session(ws, instruments, send, stale_after_s, ping_idle_s, task_status)
    except* _CONNECTION_FAILURES as group:
        own = [e for e in group.exceptions if isinstance(e, VenueStreamDropped)]
        if own:
            raise own[0] from None
        causes = sorted({type(e).__name__ for e in group.exceptions})
        raise VenueStreamDropped(f"okx stream: {', '.join(causes)}") from None


async def _session(
    ws: WebSocketConnection,
    instruments: Mapping[str, Instrument],
    send: trio.MemorySendChannel[VenueReading],
    stale_after_s: float,
    ping_idle_s: float,
    task_status: trio.TaskStatus[None],
) -> None:
    expected = 2 * len(instruments)
    for request in subscribe_requests(sorted(instruments)):
        await ws.send_message(request)
    merger = ReadingMerger(instruments)
    answered = 0
    errors: list[str] = []
    started = expected == 0
    if started:
        task_status.started()
    ack_deadline = trio.current_time() + ACK_TIMEOUT_S
    last_received = trio.current_time()
    ping_sent = False
    while True:
        deadline = last_received + (stale_after_s if ping_sent else ping_idle_s)
        if not started:
            deadline = min(deadline, ack_deadline)
        message: str | bytes | None = None
        with trio.move_on_at(deadline):
            message = await ws.get_message()
        now = trio.current_time()
        if message is None:
            if not started and now >= ack_deadline:
                raise VenueStreamDropped(
                    f"okx stream: {answered} of {expected} subscriptions answered in "
                    f"{ACK_TIMEOUT_S:.0f} s {errors[:3]}"
                )
            if not ping_sent:
                await ws.send_message("ping")
                ping_sent = True
                continue
            if now >= last_received + stale_after_s:
                raise VenueStreamDropped(f"okx stream: silent for {stale_after_s:.0f} s")
            continue
        last_received, ping_sent = now, False
        if message == "pong":
            continue
        try:
            doc = parse_json(message, "okx push")
            if isinstance(doc, dict) and "event" in doc:
                event = decode(doc, EventMessage, "okx event")
                if event.event == "subscribe":
                    answered += 1
                elif event.event == "error":
                    answered += 1
                    errors.append(f"{event.code} {event.msg}")
                    log.warning("okx stream refused a request: %s %s", event.code, event.msg)
                else:
                    log.info("okx stream %s: %s %s", event.event, event.code, event.msg)
                if not started and answered >= expected:
                    started = True
                    task_status.started()
                continue
            for out in _readings(doc, merger):
                await send.send(out)
        except VenueDecodeError as exc:
            # One bad push is skipped, not a reason to drop a healthy connection.
            log.warning("okx stream: skipped a message: %s", exc)


def _readings(doc: Any, merger: ReadingMerger) -> list[VenueReading]:
    arg = doc.get("arg") if isinstance(doc, dict) else None
    channel = arg.get("channel") if isinstance(arg, dict) else None
    found: list[VenueReading | None]
    if channel == "open-interest":
        push = decode(doc, OpenInterestPush, "open-interest push")
        found = [merger.on_open_interest(row) for row in push.data]
    elif channel == "mark-price":
        marks = decode(doc, MarkPricePush, "mark-price push")
        found = [merger.on_mark_price(row.inst_id, row.mark_px) for row in marks.data]
    else:
        raise VenueDecodeError("okx push", [f"unknown channel {channel!r} @ arg.channel"])
    return [r for r in found if r is not None]
