"""Numbers of the HTTP and WebSocket contract, in one place: the routes, the web feed and the
OpenAPI document all import them, so a changed limit changes the document with the server."""

from __future__ import annotations

import re
from typing import Literal, get_args

MAX_SYMBOL_CHARS = 40
SYMBOL_PATTERN = (
    r"^[^\x00-\x20\x7f-\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\ufeff]"
    rf"{{1,{MAX_SYMBOL_CHARS}}}$"
)
"""A symbol: 1–40 characters, none of them whitespace or a control character. Binance lists
symbols in Chinese characters too, so anything else is allowed. The classes are spelled out
(no backslash-s), so the spec's ECMA regex and Python's `re` mean the same thing."""
_SYMBOL = re.compile(SYMBOL_PATTERN[1:-1])


def is_symbol(text: str) -> bool:
    """`text` matches `SYMBOL_PATTERN` and is valid Unicode text (a lone surrogate, which a JSON
    escape can carry, cannot be stored)."""
    return _SYMBOL.fullmatch(text) is not None and not any("\ud800" <= c <= "\udfff" for c in text)


ALERT_SOURCE_PATTERN = r"^[^\x00-\x1f\x7f-\x9f]{1,64}$"
"""Who raised an ingested alert: a short name, spaces allowed, no control characters."""
_ALERT_SOURCE = re.compile(ALERT_SOURCE_PATTERN[1:-1])


def is_alert_source(text: str) -> bool:
    return _ALERT_SOURCE.fullmatch(text) is not None and not any(
        "\ud800" <= c <= "\udfff" for c in text
    )


MAX_NUMBER = 10**18
"""Ingested numbers are below this in magnitude: beyond it a value is no OI, price or USD
amount, and Postgres or a float could not hold it exactly."""
DECIMAL_PATTERN = r"^[+-]?0*(\d{1,18}(\.\d{0,22})?|\.\d{1,22})$"
"""A number sent as a string, as Binance writes them: plain digits, at most 18 before the point
and 22 after it (so below `MAX_NUMBER`), no exponent, no spaces."""
POSITIVE_DECIMAL_PATTERN = r"^\+?0*([1-9]\d{0,17}(\.\d{0,22})?|\.0{0,21}[1-9]\d{0,21})$"
"""The same, greater than zero."""


SAMPLES_DEFAULT_LIMIT = 100
SAMPLES_MAX_LIMIT = 5000
ALERTS_DEFAULT_LIMIT = 50
ALERTS_MAX_LIMIT = 1000

WsChannel = Literal["alerts", "assets", "oi", "universe"]
WS_CHANNELS: frozenset[str] = frozenset(get_args(WsChannel))
"""What a WebSocket client may subscribe to."""
DEFAULT_WS_CHANNELS: frozenset[str] = frozenset({"alerts", "oi", "universe"})
"""A client's channels until it subscribes: every channel there was before `assets`, so a client
written before it sees no new event."""
DEFAULT_WS_VENUES: frozenset[str] = frozenset({"binance"})
"""The venues a WebSocket client gets `oi` rows of until it subscribes with `venues`."""
WS_BATCH_S = 0.25
"""OI readings are pushed in one `oi` message per tick of this length."""
WS_HEARTBEAT_S = 15.0
WS_CLIENT_QUEUE = 256
"""Messages a client may fall behind by before it is cut off: ~64 s of 0.25 s OI batches."""
WS_CLOSE_TOO_SLOW = 1013
"""'Try again later': the client fell too far behind and was cut off."""
WS_REFUSED_ORIGIN_STATUS = 403
"""The handshake's answer to a browser page from an origin not in ALLOWED_ORIGINS."""
