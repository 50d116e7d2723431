"""The framework-free Hyperliquid simulator: `POST /info`, its weight limit, faults, WS sessions.

`HyperliquidSim.handle(method, path, query, ip, body)` answers REST as api.hyperliquid.xyz does:
`POST /info` with a JSON body `{"type": …}`; 1200 weight per minute per IP (20 per
`metaAndAssetCtxs`/`meta`), past it HTTP 429; a body that is not JSON → 400, an unknown or missing
`type` → 422 (axum's plain-text refusals, as the real server sends). Hyperliquid documents
neither a Retry-After header nor a 429 body: we send none and `null` (assumptions). `/_sim/*`
control routes cost no weight. `WsSession` holds one WebSocket connection's rules; the app
(`app.py`) only moves its messages.
"""

from __future__ import annotations

import json
import random
from typing import Any

import attrs

from volspike_oi.sim.answer import HANG, RestFault, VenueAnswer
from volspike_oi.sim.clock import SimClock
from volspike_oi.sim.control import control
from volspike_oi.sim.faults import Faults
from volspike_oi.sim.hyperliquid.market import Coin, build_coins
from volspike_oi.sim.limits import IpWeightLimiter

WS_PATH = "/ws"
WEIGHT_PER_MIN = 1200
INFO_WEIGHTS = {"metaAndAssetCtxs": 20, "meta": 20}
"""The info types simulated here; Hyperliquid weighs all but a few light ones at 20."""
MAX_WS_CONNECTIONS_PER_IP = 100
MAX_SUBSCRIPTIONS_PER_IP = 1000
MAX_WS_MESSAGES_PER_MIN = 2000
"""Messages a client IP may send per minute over all its connections."""
IDLE_CLOSE_MS = 60_000
"""The server closes a connection it has sent nothing to for 60 s."""
JSON_HEADERS = (("Content-Type", "application/json"),)
TEXT_HEADERS = (("Content-Type", "text/plain; charset=utf-8"),)
NO_HEADERS: tuple[tuple[str, str], ...] = ()
"""Hyperliquid's errors carry no content type."""


def dumps(obj: Any) -> str:
    return json.dumps(obj, separators=(",", ":"))


@attrs.frozen
class HyperliquidSimSettings:
    seed: int = 7
    start_ms: int = 1_791_360_000_000
    """Simulated epoch at trio time 0 of the simulator's start."""
    perps: int = 180
    """Listed perpetuals (Hyperliquid lists ~180-200); 3 delisted ones come on top."""


@attrs.define
class SimStats:
    """What `GET /_sim/stats` reports (control routes are not counted)."""

    requests: int = 0
    """REST requests, whatever their answer."""
    refused_rate: int = 0
    """Answered 429 (over the weight limit or `/_sim/rate-limit`)."""
    errors_5xx: int = 0
    """Answered with an injected 5xx."""
    ws_connections_opened: int = 0
    ws_connections_open: int = 0
    ws_messages_pushed: int = 0
    """Messages sent to clients: acks, pongs, errors and context pushes."""
    ws_messages_received: int = 0

    def as_json(self) -> dict[str, int]:
        return attrs.asdict(self)


class HyperliquidSim:
    def __init__(self, settings: HyperliquidSimSettings | None = None) -> None:
        self.settings = settings or HyperliquidSimSettings()
        self.clock = SimClock.starting_now(self.settings.start_ms)
        self.coins: list[Coin] = build_coins(self.settings.seed, self.settings.perps)
        self.by_name: dict[str, Coin] = {c.name: c for c in self.coins}
        self.faults = Faults()
        self.stats = SimStats()
        self.limiter = IpWeightLimiter(limit=WEIGHT_PER_MIN, ban_after=1 << 62)
        self.silenced_until_ms = 0
        self.ws_drop_generation = 0
        self._fault_rng = random.Random(f"{self.settings.seed}:faults")
        self._ws_sent: dict[str, tuple[int, int]] = {}
        self._ws_subscriptions: dict[str, int] = {}
        self._ws_connections: dict[str, int] = {}
        self._frame_cache: tuple[int, dict[str, str]] = (-1, {})

    # -- the market ------------------------------------------------------------------------------

    def advance(self, now_ms: int) -> None:
        step = self.clock.step_at(now_ms)
        for coin in self.coins:
            coin.advance_to(step)

    def meta_and_asset_ctxs(self, now_ms: int) -> list[Any]:
        self.advance(now_ms)
        return [self._meta(), [c.ctx() for c in self.coins]]

    def _meta(self) -> dict[str, Any]:
        return {
            "universe": [c.universe_entry() for c in self.coins],
            "marginTables": [],
            "collateralToken": 0,
        }

    def ctx_frame(self, coin: Coin, now_ms: int) -> str:
        coin.advance_to(self.clock.step_at(now_ms))
        return dumps({"channel": "activeAssetCtx", "data": {"coin": coin.name, "ctx": coin.ctx()}})

    def tick_frames(self, tick_ms: int) -> dict[str, str]:
        """The pushes of one whole second (coins whose context changed), built once per tick."""
        if self._frame_cache[0] != tick_ms:
            second = self.clock.step_at(tick_ms)
            frames = {
                c.name: self.ctx_frame(c, tick_ms) for c in self.coins if c.changes_at(second)
            }
            self._frame_cache = (tick_ms, frames)
        return self._frame_cache[1]

    # -- control -------------------------------------------------------------------------------

    def set_faults(self, faults: Faults) -> None:
        self.faults = faults

    def drop_websockets(self) -> None:
        self.ws_drop_generation += 1

    def silence(self, seconds: float) -> None:
        """Connections stay open, but nothing (no push, ack or pong) is sent for `seconds`."""
        self.silenced_until_ms = self.clock.now_ms() + int(seconds * 1000)

    def silenced(self, now_ms: int) -> bool:
        return now_ms < self.silenced_until_ms

    def rate_limit(self, seconds: float) -> None:
        """Every REST call is refused with the venue's 429 for `seconds`."""
        self.limiter.forced_until_ms = self.clock.now_ms() + int(seconds * 1000)

    # -- REST ----------------------------------------------------------------------------------

    def handle(
        self, method: str, path: str, query: dict[str, str], client_ip: str, body: bytes
    ) -> VenueAnswer:
        if path.startswith("/_sim/"):
            return self._control(method, path, body)
        self.stats.requests += 1
        now = self.clock.now_ms()
        fate = RestFault.draw(self.faults, self._fault_rng)
        delay = fate.delay_s
        if fate.hang:
            return HANG
        if fate.five_xx is not None:
            self.stats.errors_5xx += 1
            return VenueAnswer(fate.five_xx, b"", NO_HEADERS, delay_s=delay)
        if path != "/info":
            return VenueAnswer(404, b"", NO_HEADERS, delay_s=delay)
        if method != "POST":
            return VenueAnswer(405, b"", NO_HEADERS, delay_s=delay)
        try:
            request = json.loads(body)
        except ValueError:
            return _text(400, "Failed to parse the request body as JSON", delay)
        kind = request.get("type") if isinstance(request, dict) else None
        weight = INFO_WEIGHTS.get(kind, 20) if isinstance(kind, str) else 20
        admission = self.limiter.admit(client_ip, weight, now)
        if admission.status != 200:
            self.stats.refused_rate += 1
            return VenueAnswer(429, b"null", JSON_HEADERS, delay_s=delay)
        if kind == "metaAndAssetCtxs":
            payload: Any = self.meta_and_asset_ctxs(now)
        elif kind == "meta":
            payload = self._meta()
        else:
            return _text(
                422,
                "Failed to deserialize the JSON body into the target type: "
                f"unknown or missing variant `type` ({kind!r})",
                delay,
            )
        return fate.served(dumps(payload).encode(), JSON_HEADERS)

    def _control(self, method: str, path: str, body: bytes) -> VenueAnswer:
        return control(self, method, path, body, self.stats.as_json)

    # -- WebSocket bookkeeping per IP ---------------------------------------------------------

    def open_connection(self, ip: str) -> bool:
        """Count a new connection; False when the IP already holds the maximum."""
        if self.faults.ws_down or self._ws_connections.get(ip, 0) >= MAX_WS_CONNECTIONS_PER_IP:
            return False
        self._ws_connections[ip] = self._ws_connections.get(ip, 0) + 1
        self.stats.ws_connections_opened += 1
        self.stats.ws_connections_open += 1
        return True

    def close_connection(self, ip: str, subscriptions: int) -> None:
        self._ws_connections[ip] = self._ws_connections.get(ip, 1) - 1
        self._ws_subscriptions[ip] = self._ws_subscriptions.get(ip, 0) - subscriptions
        self.stats.ws_connections_open -= 1

    def note_sent_by_client(self, ip: str, now_ms: int) -> bool:
        """Count one client message; False past 2000 in the clock minute."""
        self.stats.ws_messages_received += 1
        minute = now_ms // 60_000
        seen_minute, count = self._ws_sent.get(ip, (minute, 0))
        count = count + 1 if seen_minute == minute else 1
        self._ws_sent[ip] = (minute, count)
        return count <= MAX_WS_MESSAGES_PER_MIN


@attrs.define
class WsSession:
    """One connection's subscriptions and its answers to client messages."""

    sim: HyperliquidSim
    ip: str
    coins: list[str] = attrs.Factory(list)
    last_sent_ms: int = 0

    def command(self, text: str, now_ms: int) -> tuple[list[str], bool]:
        """Apply one client message: (messages to send back, keep the connection open)."""
        sim = self.sim
        if not sim.note_sent_by_client(self.ip, now_ms):
            return [dumps({"channel": "error", "data": "Too many messages"})], False
        try:
            msg = json.loads(text)
        except ValueError:
            return [dumps({"channel": "error", "data": f"Invalid message: {text[:100]}"})], True
        method = msg.get("method") if isinstance(msg, dict) else None
        if method == "ping":
            return [dumps({"channel": "pong"})], True
        sub = msg.get("subscription") if isinstance(msg, dict) else None
        if method not in ("subscribe", "unsubscribe") or not isinstance(sub, dict):
            return [dumps({"channel": "error", "data": f"Invalid message: {text[:100]}"})], True
        coin = sub.get("coin")
        known = sub.get("type") == "activeAssetCtx" and isinstance(coin, str)
        if not known or coin not in sim.by_name:
            return [dumps({"channel": "error", "data": f"Invalid subscription {dumps(sub)}"})], True
        assert isinstance(coin, str)
        ack = dumps(
            {"channel": "subscriptionResponse", "data": {"method": method, "subscription": sub}}
        )
        if method == "unsubscribe":
            if coin in self.coins:
                self.coins.remove(coin)
                sim._ws_subscriptions[self.ip] -= 1
            return [ack], True
        if coin in self.coins:
            return [dumps({"channel": "error", "data": f"Already subscribed: {dumps(sub)}"})], True
        if sim._ws_subscriptions.get(self.ip, 0) >= MAX_SUBSCRIPTIONS_PER_IP:
            text_ = f"Cannot track more than {MAX_SUBSCRIPTIONS_PER_IP} total subscriptions"
            return [dumps({"channel": "error", "data": text_})], True
        self.coins.append(coin)
        sim._ws_subscriptions[self.ip] = sim._ws_subscriptions.get(self.ip, 0) + 1
        # The current context follows the ack at once: a subscriber never waits for a change.
        return [ack, sim.ctx_frame(sim.by_name[coin], now_ms)], True

    def pushes(self, tick_ms: int) -> list[str]:
        frames = self.sim.tick_frames(tick_ms)
        return [frames[c] for c in self.coins if c in frames]


def _text(status: int, text: str, delay_s: float) -> VenueAnswer:
    return VenueAnswer(status, text.encode(), TEXT_HEADERS, delay_s=delay_s)
