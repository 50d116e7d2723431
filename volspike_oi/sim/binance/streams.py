"""Mark price streams as fstream.binance.com sends them, and the per-connection session rules.

`!markPrice@arr@1s` (every second) and `!markPrice@arr` (every 3 s) carry every trading UM
symbol plus a few COIN-M rows (`st: 2`), split over several frames per tick with TradFi symbols
in a frame of their own. Frames of a tick are built once and shared by all connections.
Only the routed `/market` path delivers them; legacy unrouted paths acknowledge and stay silent.
"""

from __future__ import annotations

import json
import re
from typing import Any

import attrs

from volspike_oi.sim.binance import payloads
from volspike_oi.sim.binance.exchange import BinanceSim

CONNECTION_LIFETIME_MS = 86_400_000
"""Binance cuts every connection after 24 h."""
MAX_STREAMS = 1024
MAX_INCOMING_PER_S = 10
_SINGLE = re.compile(r"^([0-9a-z_]+|[^A-Z@]+)@markPrice(@1s)?$")


@attrs.frozen
class StreamName:
    name: str
    interval_ms: int
    symbol: str | None
    """None for the all-market array stream."""


def parse_stream(name: str) -> StreamName | None:
    """The mark price stream `name` denotes, or None when it carries nothing here."""
    if name == "!markPrice@arr@1s":
        return StreamName(name, 1000, None)
    if name == "!markPrice@arr":
        return StreamName(name, 3000, None)
    match = _SINGLE.match(name)
    if match and match.group(1) == match.group(1).lower():
        # Stream names are lowercase; an uppercase name is acknowledged but delivers nothing.
        return StreamName(name, 1000 if match.group(2) else 3000, match.group(1).upper())
    return None


class MarkPriceFeed:
    """Builds (and caches for the current tick) the frames of each mark price stream."""

    def __init__(self, sim: BinanceSim) -> None:
        self.sim = sim
        self._tick_ms = -1
        self._cache: dict[tuple[str, bool], list[str]] = {}

    def frames(self, stream: StreamName, tick_ms: int, combined: bool) -> list[str]:
        if tick_ms % stream.interval_ms:
            return []
        if tick_ms != self._tick_ms:
            self._tick_ms, self._cache = tick_ms, {}
            self.sim.market.sync(tick_ms)
            self.sim.market.advance_all(tick_ms)
        key = (stream.name, combined)
        if key not in self._cache:
            self._cache[key] = self._build(stream, tick_ms, combined)
        return self._cache[key]

    def _build(self, stream: StreamName, tick_ms: int, combined: bool) -> list[str]:
        market = self.sim.market
        if stream.symbol is not None:
            state = market.symbols.get(stream.symbol)
            if state is None or state.spec.status != "TRADING":
                return []
            return [_encode(stream.name, payloads.mark_price_update(state, tick_ms), combined)]
        crypto: list[dict[str, Any]] = []
        tradfi: list[dict[str, Any]] = []
        for state in market.symbols.values():
            if state.spec.status == "TRADING":
                row = payloads.mark_price_update(state, tick_ms)
                (tradfi if state.spec.is_tradfi else crypto).append(row)
        # COIN-M rows ride along on the UM stream since the 2026 migration (st: 2).
        crypto.extend(payloads.mark_price_update(s, tick_ms) for s in market.coin_margined.values())
        size = self.sim.settings.mark_frame_rows
        chunks = [crypto[i : i + size] for i in range(0, len(crypto), size)]
        if tradfi:
            chunks.append(tradfi)
        return [_encode(stream.name, chunk, combined) for chunk in chunks]


def _encode(name: str, data: Any, combined: bool) -> str:
    payload = {"stream": name, "data": data} if combined else data
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False)


@attrs.define
class StreamSession:
    """What one WebSocket connection is subscribed to, and the rules Binance enforces on it."""

    routed: bool
    """True on the `/market` path; legacy unrouted paths never deliver mark prices."""
    combined: bool
    streams: list[str] = attrs.Factory(list)
    _second: int = -1
    _count: int = 0

    def note_incoming(self, now_ms: int) -> bool:
        """Count an incoming message; False once the 10-per-second limit is broken."""
        second = now_ms // 1000
        if second != self._second:
            self._second, self._count = second, 0
        self._count += 1
        return self._count <= MAX_INCOMING_PER_S

    def command(self, text: str) -> tuple[str | None, bool]:
        """Apply one client message; returns (reply or None, keep the connection open)."""
        try:
            msg = json.loads(text)
        except ValueError:
            return json.dumps({"error": {"code": 3, "msg": "Invalid JSON: expected value"}}), True
        if not isinstance(msg, dict) or not isinstance(msg.get("method"), str):
            return json.dumps({"error": {"code": 3, "msg": "Invalid request"}, "id": None}), True
        req_id = msg.get("id")
        params = msg.get("params", [])
        method = msg["method"]
        if method in ("SUBSCRIBE", "UNSUBSCRIBE") and (
            not isinstance(params, list) or not all(isinstance(p, str) for p in params)
        ):
            return json.dumps(
                {"error": {"code": 2, "msg": "Invalid request: params"}, "id": req_id}
            ), True
        if method == "SUBSCRIBE":
            for name in params:
                if name not in self.streams:
                    self.streams.append(name)
            if len(self.streams) > MAX_STREAMS:
                return json.dumps({"error": {"code": 4, "msg": "Too many subscriptions"}}), False
            return json.dumps({"result": None, "id": req_id}), True
        if method == "UNSUBSCRIBE":
            self.streams = [s for s in self.streams if s not in params]
            return json.dumps({"result": None, "id": req_id}), True
        if method == "LIST_SUBSCRIPTIONS":
            return json.dumps({"result": list(self.streams), "id": req_id}), True
        return json.dumps({"error": {"code": 1, "msg": "Invalid method"}, "id": req_id}), True
