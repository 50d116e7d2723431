"""Numbers of the HTTP and WebSocket contract, in one place: the routes, the web feed and the
OpenAPI document all import them, so a changed limit changes the document with the server."""

from __future__ import annotations

from typing import Literal, get_args

SAMPLES_DEFAULT_LIMIT = 100
SAMPLES_MAX_LIMIT = 5000
ALERTS_DEFAULT_LIMIT = 50
ALERTS_MAX_LIMIT = 1000

WsChannel = Literal["alerts", "oi", "universe"]
WS_CHANNELS: frozenset[str] = frozenset(get_args(WsChannel))
"""What a WebSocket client may subscribe to; all of them by default."""
WS_BATCH_S = 0.25
"""OI readings are pushed in one `oi` message per tick of this length."""
WS_HEARTBEAT_S = 15.0
WS_CLIENT_QUEUE = 256
"""Messages a client may fall behind by before it is cut off: ~64 s of 0.25 s OI batches."""
WS_CLOSE_TOO_SLOW = 1013
"""'Try again later': the client fell too far behind and was cut off."""
