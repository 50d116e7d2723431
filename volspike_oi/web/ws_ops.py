"""What a WebSocket client may send (`subscribe`, `ping`) and the reply to each, and the
server's own heartbeat: the events as view classes, the replies as pure functions, no I/O."""

from __future__ import annotations

import json
from typing import Literal, cast

import attrs

from volspike_oi.venues.model import VENUES, VenueName
from volspike_oi.web.contract import (
    DEFAULT_WS_CHANNELS,
    DEFAULT_WS_VENUES,
    WS_CHANNELS,
    WS_HEARTBEAT_S,
    WsChannel,
)
from volspike_oi.web.hub import Subscriber
from volspike_oi.wire import ABSENT, Absent, IsoTime, described, to_json

WsField = Literal["channels", "symbols", "venues"]


@attrs.frozen(kw_only=True)
class WsHeartbeatEvent:
    # Assigned, not a docstring literal, so that the description follows WS_HEARTBEAT_S.
    __doc__ = f"Sent to every client every {WS_HEARTBEAT_S:.0f} s."

    event: Literal["heartbeat"] = "heartbeat"
    timestamp: IsoTime = attrs.field(metadata=described("Server time."))


@attrs.frozen(kw_only=True)
class WsSubscribedEvent:
    """The subscription now in force."""

    event: Literal["subscribed"] = "subscribed"
    channels: list[WsChannel]
    symbols: list[str] | None
    venues: list[VenueName] = attrs.field(
        metadata=described("Venues whose oi rows are sent (binance until a subscribe names any).")
    )


@attrs.frozen(kw_only=True)
class WsPongEvent:
    """The answer to a ping."""

    event: Literal["pong"] = "pong"


@attrs.frozen(kw_only=True)
class WsErrorEvent:
    """A client message was refused; the subscription is unchanged."""

    event: Literal["error"] = "error"
    field: WsField | Absent = ABSENT
    error: str


def _error(message: str, field: WsField | Absent = ABSENT) -> str:
    return json.dumps(to_json(WsErrorEvent(field=field, error=message)))


def apply_op(subscriber: Subscriber, raw: str | bytes) -> str | None:
    """Apply one client message to `subscriber`; returns the reply (subscription
    acknowledged, pong, or an error naming the field)."""
    try:
        op = json.loads(raw)
    except ValueError:
        return _error("message is not JSON")
    if not isinstance(op, dict) or op.get("op") not in ("subscribe", "ping"):
        return _error('expected {"op": "subscribe", ...}')
    if op["op"] == "ping":
        return json.dumps(to_json(WsPongEvent()))
    channels = op.get("channels", sorted(DEFAULT_WS_CHANNELS))
    if not isinstance(channels, list) or not channels or not set(channels) <= WS_CHANNELS:
        return _error(f"expected a list from {sorted(WS_CHANNELS)}", "channels")
    symbols = op.get("symbols")
    if symbols is not None and (
        not isinstance(symbols, list) or not all(isinstance(s, str) and s for s in symbols)
    ):
        return _error("expected a list of symbols", "symbols")
    venues = op.get("venues", sorted(DEFAULT_WS_VENUES))
    if not isinstance(venues, list) or not venues or not set(venues) <= set(VENUES):
        return _error(f"expected a list from {list(VENUES)}", "venues")
    subscriber.channels = frozenset(channels)
    subscriber.symbols = None if symbols is None else frozenset(s.upper() for s in symbols)
    subscriber.venues = frozenset(venues)
    subscribed = WsSubscribedEvent(
        channels=cast(list[WsChannel], sorted(subscriber.channels)),
        symbols=None if subscriber.symbols is None else sorted(subscriber.symbols),
        venues=[v for v in VENUES if v in subscriber.venues],
    )
    return json.dumps(to_json(subscribed))
