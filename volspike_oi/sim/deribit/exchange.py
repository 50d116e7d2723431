"""The simulated Deribit: JSON-RPC over REST and WebSocket, its credit limits and refusals.

`DeribitSim.handle()` is framework-free (the quart-trio app and the in-process httpx transport
both call it); `WsSession` is one WebSocket connection's protocol as plain methods (`command`
for what the client sends, `tick` for what the server pushes each 100 ms), so its rules are
tested without sockets.

Limits, per IP as Deribit counts them per account: every public request, REST or WebSocket,
costs 500 of 50,000 credits refilled at 10,000 per second (20 requests/s sustained, a burst of
100). Without credits REST answers HTTP 429 with JSON-RPC error 10028 `too_many_requests`; on
the WebSocket the error reply is followed by closing the session. 32 connections per IP.
"""

from __future__ import annotations

import json
import random
import time
from typing import Any

import attrs

from volspike_oi.sim.answer import HANG, RestFault, VenueAnswer
from volspike_oi.sim.clock import SimClock
from volspike_oi.sim.control import control
from volspike_oi.sim.deribit import payloads
from volspike_oi.sim.deribit.market import Market, Spec
from volspike_oi.sim.faults import Faults

API_PREFIX = "/api/v2/"
WS_PATH = "/ws/api/v2"
CREDITS_MAX = 50_000
CREDITS_PER_REQUEST = 500
CREDITS_REFILL_PER_MS = 10
"""10,000 credits per second: 20 requests/s at 500 each."""
MAX_CONNECTIONS_PER_IP = 32
TICK_MS = 100
"""The `100ms` ticker interval: each push tick carries the instruments whose state changed."""
MIN_HEARTBEAT_S = 10
CURRENCIES = ("BTC", "ETH", "USDC", "USDT", "EURR", "any")
TICKER_INTERVALS = ("100ms", "agg2")
"""Public ticker intervals (`raw` needs an authorized connection)."""
JSON_HEADERS = (("Content-Type", "application/json"),)
FIVE_XX_BODY = (
    b"<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
    b"<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n"
    b"</body>\r\n</html>\r\n"
)


@attrs.define
class SimStats:
    requests: int = 0
    refused_rate: int = 0
    errors_5xx: int = 0
    ws_connections: int = 0
    """WebSocket connections opened (accepted) so far."""
    ws_open: int = 0
    ws_messages_pushed: int = 0


@attrs.define
class _Credits:
    credits: int = CREDITS_MAX
    at_ms: int = 0


class _RpcError(Exception):
    def __init__(self, status: int, code: int, message: str, data: Any = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.data = status, code, message, data


def _invalid(param: str, reason: str) -> _RpcError:
    return _RpcError(400, -32602, "Invalid params", {"reason": reason, "param": param})


class DeribitSim:
    def __init__(
        self,
        *,
        seed: int = 7,
        start_epoch_ms: int | None = None,
        catalog: list[Spec] | None = None,
        faults: Faults | None = None,
    ) -> None:
        if start_epoch_ms is None:
            # A standalone run (the demo) reads the wall clock once; tests pass a fixed epoch.
            start_epoch_ms = int(time.time() * 1000)
        self.clock = SimClock.starting_now(start_epoch_ms)
        self.market = Market.build(seed, catalog)
        self.faults = faults or Faults()
        self.fault_rng = random.Random(seed * 7919 + 1)
        self.stats = SimStats()
        self._credits: dict[str, _Credits] = {}
        self.rate_limited_until_ms = 0
        self.silenced_until_ms = 0
        self.ws_drop_generation = 0
        self.connections: dict[str, int] = {}
        self._tick_ms = -1
        self._tick_frames: dict[str, str] = {}

    # -- market and limits -------------------------------------------------------------------

    def now_ms(self) -> int:
        return self.clock.now_ms()

    def market_now(self) -> Market:
        return self.market.at(self.clock.step_at(self.now_ms()))

    def admit(self, ip: str, now_ms: int) -> bool:
        """Take one request's credits from `ip`'s pool; False when it has too few."""
        if now_ms < self.rate_limited_until_ms:
            return False
        pool = self._credits.setdefault(ip, _Credits(at_ms=now_ms))
        refill = max(0, now_ms - pool.at_ms) * CREDITS_REFILL_PER_MS
        pool.credits, pool.at_ms = min(CREDITS_MAX, pool.credits + refill), now_ms
        if pool.credits < CREDITS_PER_REQUEST:
            return False
        pool.credits -= CREDITS_PER_REQUEST
        return True

    # -- control (the same as the /_sim routes) ------------------------------------------------

    def set_faults(self, faults: Faults) -> None:
        self.faults = faults

    def drop_websockets(self) -> None:
        self.ws_drop_generation += 1

    def silence(self, seconds: float) -> None:
        """Open connections stay open, but nothing (tickers, heartbeats) is pushed."""
        self.silenced_until_ms = self.now_ms() + int(seconds * 1000)

    def rate_limit(self, seconds: float) -> None:
        """Every request is refused with 10028 for `seconds`."""
        self.rate_limited_until_ms = self.now_ms() + int(seconds * 1000)

    def stats_doc(self) -> dict[str, int]:
        return attrs.asdict(self.stats)

    # -- REST ----------------------------------------------------------------------------------

    def handle(
        self, method: str, path: str, query: dict[str, str], client_ip: str, body: bytes
    ) -> VenueAnswer:
        if path.startswith("/_sim/"):
            return self._control(method, path, body)
        now_ms = self.now_ms()
        self.stats.requests += 1
        if not self.admit(client_ip, now_ms):
            self.stats.refused_rate += 1
            error = payloads.rpc_error(10028, "too_many_requests")
            return VenueAnswer(429, payloads.envelope(now_ms, error=error).encode())
        fate = RestFault.draw(self.faults, self.fault_rng)
        if fate.hang:
            return HANG
        if fate.five_xx is not None:
            self.stats.errors_5xx += 1
            return VenueAnswer(
                fate.five_xx, FIVE_XX_BODY, (("Content-Type", "text/html"),), fate.delay_s
            )
        try:
            result = self._rest(method, path, query, now_ms)
        except _RpcError as exc:
            error = payloads.rpc_error(exc.code, exc.message, exc.data)
            return VenueAnswer(
                exc.status, payloads.envelope(now_ms, error=error).encode(), delay_s=fate.delay_s
            )
        return fate.served(payloads.envelope(now_ms, result=result).encode())

    def _rest(self, method: str, path: str, query: dict[str, str], now_ms: int) -> Any:
        if method not in ("GET", "POST") or not path.startswith(API_PREFIX):
            raise _RpcError(404, -32601, "Method not found")
        name = path[len(API_PREFIX) :]
        if name == "public/test":
            return {"version": payloads.API_VERSION}
        if name == "public/get_time":
            return now_ms
        if name in ("public/get_instruments", "public/get_book_summary_by_currency"):
            currency = query.get("currency")
            if currency is None:
                raise _invalid("currency", "must be present")
            if currency not in CURRENCIES:
                raise _invalid("currency", "wrong format")
            kind = query.get("kind")
            if kind is not None and kind not in (
                "future",
                "option",
                "spot",
                "future_combo",
                "option_combo",
            ):
                raise _invalid("kind", "wrong format")
            market = self.market_now()
            listed = [
                s
                for s in market.instruments.values()
                if (currency == "any" or s.spec.currency == currency) and kind in (None, "future")
            ]
            if name == "public/get_instruments":
                return [payloads.instrument(s) for s in listed]
            return [payloads.book_summary(s, now_ms) for s in listed]
        if name == "public/get_book_summary_by_instrument":
            instrument = query.get("instrument_name")
            if instrument is None:
                raise _invalid("instrument_name", "must be present")
            state = self.market_now().instruments.get(instrument)
            if state is None:
                raise _invalid("instrument_name", "wrong format")
            return [payloads.book_summary(state, now_ms)]
        if name in ("public/subscribe", "public/set_heartbeat"):
            raise _RpcError(400, 10030, "must_be_websocket_request")
        raise _RpcError(400, -32601, "Method not found")

    def _control(self, method: str, path: str, body: bytes) -> VenueAnswer:
        return control(self, method, path, body, self.stats_doc)

    # -- WebSocket -----------------------------------------------------------------------------

    def open_session(self, ip: str) -> WsSession | None:
        """A new connection from `ip`, or None when the host is down or `ip` has 32 open."""
        if self.faults.ws_down or self.connections.get(ip, 0) >= MAX_CONNECTIONS_PER_IP:
            return None
        self.connections[ip] = self.connections.get(ip, 0) + 1
        self.stats.ws_connections += 1
        self.stats.ws_open += 1
        return WsSession(self, ip, self.now_ms())

    def close_session(self, session: WsSession) -> None:
        self.connections[session.ip] -= 1
        self.stats.ws_open -= 1

    def ticker_frames(self, tick_ms: int) -> dict[str, str]:
        """Channel → frame for the instruments pushed in this tick (built once per tick for all
        connections): each instrument moves once a simulated second, pushed in its own tenth of
        the second, so a tick carries about a tenth of them."""
        if tick_ms != self._tick_ms:
            self._tick_ms = tick_ms
            market = self.market.at(self.clock.step_at(tick_ms))
            tenth = (tick_ms // TICK_MS) % 10
            frames: dict[str, str] = {}
            for state in market.instruments.values():
                if state.phase == tenth:
                    data = payloads.ticker(state, tick_ms)
                    for interval in TICKER_INTERVALS:
                        channel = f"ticker.{state.spec.name}.{interval}"
                        frames[channel] = payloads.notification(channel, data)
            self._tick_frames = frames
        return self._tick_frames


@attrs.define
class WsSession:
    """One connection's JSON-RPC state: subscriptions, heartbeat, drops."""

    sim: DeribitSim
    ip: str
    opened_ms: int
    channels: list[str] = attrs.Factory(list)
    heartbeat_ms: int = 0
    """0: no heartbeat asked for; else the interval."""
    next_test_request_ms: int = 0
    awaiting_test: bool = False
    generation: int = attrs.field(init=False)

    def __attrs_post_init__(self) -> None:
        self.generation = self.sim.ws_drop_generation

    def _reply(self, now_ms: int, id_: Any, result: Any) -> str:
        return payloads.envelope(now_ms, result=result, id_=id_)

    def _error(self, now_ms: int, id_: Any, code: int, message: str, data: Any = None) -> str:
        error = payloads.rpc_error(code, message, data)
        return payloads.envelope(now_ms, error=error, id_=id_)

    def command(self, text: str, now_ms: int) -> tuple[list[str], bool]:
        """One client message: (replies, keep the connection open)."""
        try:
            msg = json.loads(text)
        except ValueError:
            return [self._error(now_ms, None, -32700, "Parse error")], True
        if not isinstance(msg, dict) or not isinstance(msg.get("method"), str):
            return [self._error(now_ms, None, -32600, "Invalid Request")], True
        id_ = msg.get("id")
        if not self.sim.admit(self.ip, now_ms):
            # Deribit answers 10028 and terminates the session.
            self.sim.stats.refused_rate += 1
            return [self._error(now_ms, id_, 10028, "too_many_requests")], False
        params = msg.get("params", {})
        if not isinstance(params, dict):
            return [self._error(now_ms, id_, -32602, "Invalid params")], True
        method = msg["method"]
        if method in ("public/subscribe", "public/unsubscribe"):
            channels = params.get("channels")
            if not isinstance(channels, list) or not all(isinstance(c, str) for c in channels):
                return [
                    self._error(
                        now_ms,
                        id_,
                        -32602,
                        "Invalid params",
                        {"reason": "must be present", "param": "channels"},
                    )
                ], True
            if method == "public/unsubscribe":
                self.channels = [c for c in self.channels if c not in channels]
                return [self._reply(now_ms, id_, [c for c in channels if c])], True
            accepted = [c for c in dict.fromkeys(channels) if self._valid(c)]
            for channel in accepted:
                if channel not in self.channels:
                    self.channels.append(channel)
            return [self._reply(now_ms, id_, accepted)], True
        if method == "public/set_heartbeat":
            interval = params.get("interval")
            if (
                isinstance(interval, bool)
                or not isinstance(interval, int | float)
                or interval < MIN_HEARTBEAT_S
            ):
                return [
                    self._error(
                        now_ms,
                        id_,
                        -32602,
                        "Invalid params",
                        {"reason": "wrong format", "param": "interval"},
                    )
                ], True
            self.heartbeat_ms = int(interval * 1000)
            self.next_test_request_ms = now_ms + self.heartbeat_ms
            self.awaiting_test = False
            return [self._reply(now_ms, id_, "ok")], True
        if method == "public/disable_heartbeat":
            self.heartbeat_ms = 0
            return [self._reply(now_ms, id_, "ok")], True
        if method == "public/test":
            self.awaiting_test = False
            return [self._reply(now_ms, id_, {"version": payloads.API_VERSION})], True
        return [self._error(now_ms, id_, -32601, "Method not found")], True

    def _valid(self, channel: str) -> bool:
        parts = channel.split(".")
        return (
            len(parts) == 3
            and parts[0] == "ticker"
            and parts[1] in self.sim.market.instruments
            and parts[2] in TICKER_INTERVALS
        )

    def dropped(self, tick_ms: int) -> str | None:
        """Why the server closes this connection at `tick_ms`, or None."""
        sim = self.sim
        if sim.ws_drop_generation != self.generation or sim.faults.ws_down:
            return "simulated connection drop"
        every_ms = int(sim.faults.ws_drop_every_s * 1000)
        if every_ms > 0:
            start = sim.clock.start_epoch_ms
            if (tick_ms - start) // every_ms != (self.opened_ms - start) // every_ms:
                return "simulated periodic drop"
        return None

    def tick(self, tick_ms: int) -> tuple[list[str], bool]:
        """What the server pushes at `tick_ms`: (frames, keep the connection open)."""
        if self.dropped(tick_ms) is not None:
            return [], False
        if tick_ms < self.sim.silenced_until_ms:
            return [], True
        frames: list[str] = []
        if self.heartbeat_ms and tick_ms >= self.next_test_request_ms:
            if self.awaiting_test:
                return [], False  # the last test_request went unanswered
            self.awaiting_test = True
            self.next_test_request_ms = tick_ms + self.heartbeat_ms
            frames.append(payloads.TEST_REQUEST)
        if self.channels:
            pushed = self.sim.ticker_frames(tick_ms)
            frames.extend(pushed[c] for c in self.channels if c in pushed)
        self.sim.stats.ws_messages_pushed += len(frames)
        return frames, True
