"""The simulated Bybit v5 REST API: instruments-info, tickers and the open-interest history for
category=linear, Bybit's envelope, its per-IP limit and refusals, injected faults, and the
`/_sim` control routes.

`BybitSim.handle()` is framework-free: the quart-trio app (`app.py`) and the in-process httpx
transport (`sim/transport.py`) both call it and see the same bodies, limits and statistics.
"""

from __future__ import annotations

import json
import random
import re
from collections import Counter, deque
from collections.abc import Mapping
from typing import Any

import attrs

from volspike_oi.sim.answer import HANG, RestFault, VenueAnswer
from volspike_oi.sim.bybit.market import (
    HISTORY_STEP_MS,
    Market,
    build_catalog,
    history_row,
    instrument_row,
    rest_ticker,
    ws_ticker,
)
from volspike_oi.sim.clock import SimClock
from volspike_oi.sim.control import control
from volspike_oi.sim.faults import Faults

IP_LIMIT = 600
IP_WINDOW_MS = 5_000
BAN_MS = 600_000
"""Bybit: after "403, access too frequent" "wait for at least 10 minutes"."""
ACCESS_TOO_FREQUENT = b"access too frequent"
"""The docs quote only these words; the body is text, not JSON."""
TOO_MANY_VISITS = "Too many visits!"
DEFAULT_PERPETUALS = 400
"""Bybit lists ~500 USDT perpetuals; 400 push ~400 deltas a second at 10 % change per tick,
about 10 % of one core for the simulator and a client together (measured on loopback)."""
INSTRUMENTS_DEFAULT_LIMIT = 500
INSTRUMENTS_MAX_LIMIT = 1000
_CURSOR = re.compile(r"^next%3D(\d+)$")
HISTORY_INTERVALS_MS = {
    "5min": HISTORY_STEP_MS,
    "15min": 3 * HISTORY_STEP_MS,
    "30min": 6 * HISTORY_STEP_MS,
    "1h": 12 * HISTORY_STEP_MS,
    "4h": 48 * HISTORY_STEP_MS,
    "1d": 288 * HISTORY_STEP_MS,
}
"""`intervalTime` of `/v5/market/open-interest` (docs: 5min, 15min, 30min, 1h, 4h, 1d)."""
HISTORY_DEFAULT_LIMIT = 50
HISTORY_MAX_LIMIT = 200
_HISTORY_CURSOR = re.compile(r"^lastid%3D(\d+)%26lasttime%3D(\d+)$")
"""As the captures' `nextPageCursor`: "lastid%3D10860016%26lasttime%3D1739725200" (seconds)."""
JSON_HEADERS = (("Content-Type", "application/json; charset=utf-8"),)
TEXT_HEADERS = (("Content-Type", "text/plain; charset=utf-8"),)


def _dumps(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode()


@attrs.define
class BybitStats:
    """What the simulator saw; served at `/_sim/stats`."""

    requests: int = 0
    by_status: Counter[int] = attrs.Factory(Counter)
    by_path: Counter[str] = attrs.Factory(Counter)
    refused_for_rate: int = 0
    five_xx: int = 0
    ws_connections_opened: int = 0
    ws_connections_open: int = 0
    ws_messages_pushed: int = 0
    request_log: deque[tuple[int, str, int]] = attrs.Factory(lambda: deque(maxlen=100_000))
    """(epoch ms, path, status) of recent REST requests."""

    def record(self, now_ms: int, path: str, status: int) -> None:
        self.requests += 1
        self.by_status[status] += 1
        self.by_path[path] += 1
        self.request_log.append((now_ms, path, status))

    def to_json(self) -> dict[str, Any]:
        return {
            "requests": self.requests,
            "byStatus": {str(k): v for k, v in sorted(self.by_status.items())},
            "byPath": dict(sorted(self.by_path.items())),
            "refusedForRate": self.refused_for_rate,
            "fiveXx": self.five_xx,
            "wsConnectionsOpened": self.ws_connections_opened,
            "wsConnectionsOpen": self.ws_connections_open,
            "wsMessagesPushed": self.ws_messages_pushed,
        }


@attrs.define
class IpLimiter:
    """600 requests in any 5 s per IP; the request over it is refused and the IP banned."""

    limit: int = IP_LIMIT
    window_ms: int = IP_WINDOW_MS
    ban_ms: int = BAN_MS
    _seen: dict[str, deque[int]] = attrs.Factory(dict)
    _banned_until: dict[str, int] = attrs.Factory(dict)

    def admit(self, ip: str, now_ms: int) -> bool:
        if now_ms < self._banned_until.get(ip, 0):
            return False
        seen = self._seen.setdefault(ip, deque())
        while seen and seen[0] <= now_ms - self.window_ms:
            seen.popleft()
        if len(seen) >= self.limit:
            self._banned_until[ip] = now_ms + self.ban_ms
            return False
        seen.append(now_ms)
        return True


class SimError(Exception):
    """A refusal in Bybit's envelope (HTTP 200, non-zero retCode)."""

    def __init__(self, ret_code: int, ret_msg: str) -> None:
        super().__init__(ret_msg)
        self.ret_code, self.ret_msg = ret_code, ret_msg


class BybitSim:
    """One simulated Bybit. Create it inside `trio.run` (it reads trio's clock)."""

    def __init__(
        self,
        *,
        seed: int = 1,
        perpetuals: int = DEFAULT_PERPETUALS,
        start_ms: int | None = None,
    ) -> None:
        import time

        # The wall clock is read once, to anchor the simulated epoch when none is given.
        self.clock = SimClock.starting_now(
            start_ms if start_ms is not None else int(time.time() * 1000)
        )
        self.market = Market(
            build_catalog(seed, perpetuals, self.clock.start_epoch_ms), self.clock, seed
        )
        self.faults = Faults()
        self.limiter = IpLimiter()
        self.stats = BybitStats()
        self.ws_drop_generation = 0
        """Incremented to make every open WebSocket connection drop."""
        self.silent_until_ms = 0
        """Until then open connections stay open but nothing is sent on them."""
        self.refuse_until_ms = 0
        self.refuse_kind = "ip-ban"
        self._fault_rng = random.Random(seed ^ 0xB1B1_FA17)
        self._routes = {
            "/v5/market/instruments-info": self._instruments,
            "/v5/market/tickers": self._tickers,
            "/v5/market/open-interest": self._open_interest,
        }

    # -- control (same names on every venue's simulator) -----------------------------------------

    def set_faults(self, faults: Faults) -> None:
        self.faults = faults

    def drop_websockets(self) -> None:
        self.ws_drop_generation += 1

    def silence(self, seconds: float) -> None:
        self.silent_until_ms = self.clock.now_ms() + int(seconds * 1000)

    def silent(self, now_ms: int) -> bool:
        return now_ms < self.silent_until_ms

    def rate_limit(self, seconds: float, kind: str = "ip-ban") -> None:
        """Every REST call refused for `seconds`: "ip-ban" answers HTTP 403 "access too
        frequent" (Bybit's IP rule), "retcode" HTTP 200 with retCode 10006 (its API rule)."""
        if kind not in ("ip-ban", "retcode"):
            raise ValueError(f"kind must be 'ip-ban' or 'retcode', not {kind!r}")
        self.refuse_until_ms = self.clock.now_ms() + int(seconds * 1000)
        self.refuse_kind = kind

    def ticker_data(self, symbol: str, now_ms: int) -> dict[str, str] | None:
        """The full WebSocket `data` of `symbol` now (None: not a linear contract)."""
        state = self.market.contracts.get(symbol)
        return None if state is None else ws_ticker(state, now_ms)

    # -- REST ------------------------------------------------------------------------------------

    def handle(
        self,
        method: str,
        path: str,
        query: Mapping[str, str],
        client_ip: str = "127.0.0.1",
        body: bytes = b"",
    ) -> VenueAnswer:
        now = self.clock.now_ms()
        if path.startswith("/_sim/"):
            return self._control(method, path, body)
        route = self._routes.get(path)
        if route is None or method not in ("GET", "HEAD"):
            self.stats.record(now, path, 404)
            return VenueAnswer(404, b"404 page not found", TEXT_HEADERS)
        if now < self.refuse_until_ms:
            return self._refuse(now, path)
        if not self.limiter.admit(client_ip, now):
            return self._refuse(now, path, kind="ip-ban")
        fate = RestFault.draw(self.faults, self._fault_rng)
        if fate.hang:
            self.stats.record(now, path, 0)
            return HANG
        if fate.five_xx is not None:
            self.stats.five_xx += 1
            self.stats.record(now, path, fate.five_xx)
            text = {502: "Bad Gateway", 503: "Service Unavailable"}.get(fate.five_xx, "Error")
            html = f"<html><body><h1>{fate.five_xx} {text}</h1></body></html>"
            return VenueAnswer(
                fate.five_xx, html.encode(), (("Content-Type", "text/html"),), fate.delay_s
            )
        self.market.sync(now)
        try:
            result = route(query, now)
            doc = {"retCode": 0, "retMsg": "OK", "result": result, "retExtInfo": {}, "time": now}
        except SimError as err:
            doc = {
                "retCode": err.ret_code,
                "retMsg": err.ret_msg,
                "result": {},
                "retExtInfo": {},
                "time": now,
            }
        self.stats.record(now, path, 200)
        return fate.served(_dumps(doc), JSON_HEADERS)

    def _refuse(self, now: int, path: str, kind: str | None = None) -> VenueAnswer:
        self.stats.refused_for_rate += 1
        if (kind or self.refuse_kind) == "retcode":
            self.stats.record(now, path, 200)
            doc = {
                "retCode": 10006,
                "retMsg": TOO_MANY_VISITS,
                "result": {},
                "retExtInfo": {},
                "time": now,
            }
            return VenueAnswer(200, _dumps(doc), JSON_HEADERS)
        self.stats.record(now, path, 403)
        return VenueAnswer(403, ACCESS_TOO_FREQUENT, TEXT_HEADERS)

    @staticmethod
    def _category(query: Mapping[str, str]) -> str:
        category = query.get("category", "")
        if category not in ("linear", "inverse", "spot", "option"):
            raise SimError(10001, "params error: category is invalid")
        return category

    def _instruments(self, query: Mapping[str, str], now: int) -> dict[str, Any]:
        category = self._category(query)
        specs = [c.spec for c in self.market.contracts.values()] if category == "linear" else []
        if query.get("symbol"):
            specs = [s for s in specs if s.symbol == query["symbol"]]
        raw_limit = query.get("limit") or str(INSTRUMENTS_DEFAULT_LIMIT)
        if not raw_limit.isdigit() or not 1 <= int(raw_limit) <= INSTRUMENTS_MAX_LIMIT:
            raise SimError(10001, "params error: limit must be in [1, 1000]")
        limit = int(raw_limit)
        start = 0
        if query.get("cursor"):
            found = _CURSOR.match(query["cursor"])
            if found is None:
                raise SimError(10001, "params error: cursor is invalid")
            start = int(found.group(1))
        page = specs[start : start + limit]
        more = start + limit < len(specs)
        return {
            "category": category,
            "list": [instrument_row(s) for s in page],
            "nextPageCursor": f"next%3D{start + limit}" if more else "",
        }

    def _tickers(self, query: Mapping[str, str], now: int) -> dict[str, Any]:
        category = self._category(query)
        states = list(self.market.contracts.values()) if category == "linear" else []
        symbol = query.get("symbol")
        if symbol:
            states = [s for s in states if s.spec.symbol == symbol]
            if not states:
                raise SimError(10001, "Not supported symbols")
        return {"category": category, "list": [rest_ticker(s, now) for s in states]}

    def _open_interest(self, query: Mapping[str, str], now: int) -> dict[str, Any]:
        """The OI history of one symbol: points at each `intervalTime` boundary from the
        market's own walk, newest first, `limit` a page, older pages through the cursor;
        `startTime`/`endTime` bound the points, both inclusive (the docs' example)."""
        category = self._category(query)
        if category not in ("linear", "inverse"):
            raise SimError(10001, "params error: category only support linear or inverse")
        symbol = query.get("symbol", "")
        if not symbol:
            raise SimError(10001, "params error: symbol is required")
        step = HISTORY_INTERVALS_MS.get(query.get("intervalTime", ""))
        if step is None:
            raise SimError(10001, "params error: intervalTime is invalid")
        raw_limit = query.get("limit") or str(HISTORY_DEFAULT_LIMIT)
        if not raw_limit.isdigit() or not 1 <= int(raw_limit) <= HISTORY_MAX_LIMIT:
            raise SimError(10001, "params error: limit must be in [1, 200]")
        bounds = []
        for key in ("startTime", "endTime"):
            raw = query.get(key, "")
            if raw and not raw.isdigit():
                raise SimError(10001, f"params error: {key} is invalid")
            bounds.append(int(raw) if raw else None)
        start, end = bounds
        before = None
        if query.get("cursor"):
            found = _HISTORY_CURSOR.match(query["cursor"])
            if found is None:
                raise SimError(10001, "params error: cursor is invalid")
            before = int(found.group(2)) * 1000
        state = self.market.contracts.get(symbol) if category == "linear" else None
        if state is None or state.spec.contract_type != "LinearPerpetual":
            raise SimError(10001, "Not supported symbols")
        points = [
            p
            for p in reversed(self.market.oi_history(symbol, now))
            if p[0] % step == 0
            and (start is None or p[0] >= start)
            and (end is None or p[0] <= end)
            and (before is None or p[0] < before)
        ]
        page = points[: int(raw_limit)]
        cursor = ""
        if len(points) > len(page):
            oldest = page[-1][0]
            cursor = f"lastid%3D{oldest // HISTORY_STEP_MS}%26lasttime%3D{oldest // 1000}"
        return {
            "symbol": symbol,
            "category": category,
            "list": [history_row(state, p) for p in page],
            "nextPageCursor": cursor,
        }

    # -- /_sim control (no limits, no faults) ----------------------------------------------------

    def _control(self, method: str, path: str, body: bytes) -> VenueAnswer:
        return control(
            self,
            method,
            path,
            body,
            self.stats.to_json,
            lambda seconds, doc: self.rate_limit(seconds, str(doc.get("kind", "ip-ban"))),
        )


__all__ = ["BybitSim", "BybitStats"]
