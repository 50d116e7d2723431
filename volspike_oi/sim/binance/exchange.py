"""The simulated exchange: REST answers with Binance's weights, limits, errors and faults.

`BinanceSim.handle()` is framework-free: the quart-trio app (`sim/app.py`) and the in-memory
httpx transport (`sim/transport.py`) both call it, so a test can use real loopback HTTP or skip
the sockets and still see identical bodies, headers, limits and statistics.
"""

from __future__ import annotations

import email.utils
import json
import random
from collections.abc import Callable, Mapping
from typing import Any

import attrs
import cattrs

from volspike_oi.sim.binance import payloads
from volspike_oi.sim.binance.catalog import build_catalog
from volspike_oi.sim.binance.market import HIST_PERIOD_MS, Market, SymbolState
from volspike_oi.sim.binance.scenario import NO_EVENTS, Scenario, ScenarioError, decode_faults
from volspike_oi.sim.binance.settings import SimSettings
from volspike_oi.sim.binance.stats import SimStats
from volspike_oi.sim.clock import SimClock
from volspike_oi.sim.faults import (
    FIREWALL_403_HTML,
    FIREWALL_451_BODY,
    FIREWALL_STATUSES,
    FIVE_XX,
    Faults,
    decide,
)
from volspike_oi.sim.limits import Admission, IpWeightLimiter, WindowCounter

HIST_LIMIT_PER_5MIN = 1000
HIST_MAX_AGE_MS = 30 * 86_400_000
HIST_PERIODS_MS = {
    "5m": 300_000,
    "15m": 900_000,
    "30m": 1_800_000,
    "1h": 3_600_000,
    "2h": 7_200_000,
    "4h": 14_400_000,
    "6h": 21_600_000,
    "12h": 43_200_000,
    "1d": 86_400_000,
}
WEIGHT_HEADER = "X-MBX-USED-WEIGHT-1M"
JSON_HEADERS = (("Content-Type", "application/json"),)
PROXY_INFO_PATH = "/api/binance/futures/info"
"""The binance-proxy's exchangeInfo, served by the same simulator (any host reaches it)."""
BAD_GATEWAY_HTML = (
    b"<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
    b"<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n"
    b"</body>\r\n</html>\r\n"
)
"""What nginx in front of a binance-proxy that is not running answers (HTML, not JSON)."""


@attrs.frozen
class SimResponse:
    status: int
    body: bytes
    headers: tuple[tuple[str, str], ...] = ()
    delay_s: float = 0.0
    """Latency to add before answering (fault injection)."""
    hang: bool = False
    """Never answer (fault injection); the client has to time out."""

    def json(self) -> Any:
        return json.loads(self.body)


class BinanceError(Exception):
    """An error answer in Binance's `{"code", "msg"}` shape."""

    def __init__(self, status: int, code: int, msg: str) -> None:
        super().__init__(msg)
        self.status, self.code, self.msg = status, code, msg


def _mandatory(name: str) -> BinanceError:
    return BinanceError(
        400, -1102, f"Mandatory parameter '{name}' was not sent, was empty/null, or malformed."
    )


def _dumps(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode()


@attrs.frozen
class _Route:
    weight: Callable[[Mapping[str, str]], int]
    handler: Callable[[Mapping[str, str], int], Any]
    weight_header: bool = True
    """Binance sends X-MBX-USED-WEIGHT-1M; the binance-proxy does not forward it."""
    separate_limit: bool = False
    """Counted against the 1000-per-5-minutes window of /futures/data instead of the weight."""


class BinanceSim:
    """One simulated exchange. Create it inside `trio.run` (it reads trio's clock)."""

    def __init__(self, settings: SimSettings, scenario: Scenario = NO_EVENTS) -> None:
        import time

        self.settings = settings
        # The wall clock is read once, to anchor the simulated epoch when none is given.
        start_ms = settings.start_ms if settings.start_ms is not None else int(time.time() * 1000)
        anchored = SimClock.starting_now(start_ms)
        self.clock = attrs.evolve(
            anchored, start_epoch_ms=anchored.start_epoch_ms + settings.clock_offset_ms
        )
        self.faults = Faults(
            error_rate=settings.error_rate,
            latency_ms=settings.latency_ms,
            hang_rate=settings.hang_rate,
            malformed_rate=settings.malformed_rate,
            ws_drop_every_s=settings.ws_drop_every_s,
            background_weight_per_min=settings.background_weight,
        )
        self.limiter = IpWeightLimiter(
            limit=settings.weight_limit,
            ban_after=settings.ban_after,
            background_per_min=settings.background_weight,
        )
        self.hist_counter = WindowCounter(limit=HIST_LIMIT_PER_5MIN, window_ms=300_000)
        self.market = Market(
            build_catalog(settings.symbols, settings.seed, self.clock.start_epoch_ms),
            self.clock,
            settings.seed,
            scenario,
            on_faults=self.set_faults,
        )
        self.stats = SimStats()
        self.ws_drop_generation = 0
        """Incremented to make every open WebSocket connection drop."""
        self.firewall_until_ms = 0
        """Until then the CDN in front of the exchange answers every REST request itself."""
        self.firewall_status = 403
        self.proxy_down_until_ms = 0
        """Until then the binance-proxy is down: its route answers 502 Bad Gateway."""
        self._fault_rng = random.Random(settings.seed ^ 0x5EED_FA17)
        self._exchange_info_cache: tuple[int, str] | None = None
        self._routes: dict[str, _Route] = {
            "/fapi/v1/ping": _Route(lambda q: 1, lambda q, now: {}),
            "/fapi/v1/time": _Route(lambda q: 1, lambda q, now: {"serverTime": now}),
            "/fapi/v1/exchangeInfo": _Route(lambda q: 1, self._exchange_info),
            "/fapi/v1/ticker/24hr": _Route(lambda q: 1 if q.get("symbol") else 40, self._ticker),
            "/fapi/v1/openInterest": _Route(lambda q: 1, self._open_interest),
            "/fapi/v1/premiumIndex": _Route(lambda q: 1 if q.get("symbol") else 10, self._premium),
            "/futures/data/openInterestHist": _Route(
                lambda q: 0, self._open_interest_hist, separate_limit=True
            ),
            PROXY_INFO_PATH: _Route(lambda q: 1, self._exchange_info, weight_header=False),
        }

    # -- control ---------------------------------------------------------------------------------

    def set_faults(self, faults: Faults) -> None:
        self.faults = faults
        self.limiter.background_per_min = faults.background_weight_per_min
        self.limiter.background_burst = faults.background_burst_weight
        self.limiter.background_burst_at_ms = int(faults.background_burst_at_s * 1000) % 60_000

    def ban_all(self, seconds: float, *, retry_after: bool | None = None) -> None:
        """Every IP gets 418 for `seconds` (as after an automated ban); `retry_after=False` drops
        the Retry-After header from this and every later refusal, leaving the ban's end only in
        the body."""
        if retry_after is not None:
            self.set_faults(attrs.evolve(self.faults, retry_after=retry_after))
        now = self.clock.now_ms()
        self.limiter.ban_all(int(seconds * 1000), now)

    def firewall(self, seconds: float, status: int = 403) -> None:
        """For `seconds` the CDN answers every REST request: 403 with CloudFront's HTML "Request
        blocked" page, or 451 (a restricted location) with its JSON message. Costs no weight."""
        if status not in FIREWALL_STATUSES:
            raise ValueError(f"a firewall answers {FIREWALL_STATUSES}, not {status}")
        self.firewall_until_ms = self.clock.now_ms() + int(seconds * 1000)
        self.firewall_status = status

    def proxy_down(self, seconds: float) -> None:
        """For `seconds` the binance-proxy is down: nginx in front of it answers its route with
        502 Bad Gateway (an HTML page). Binance itself answers as usual. Costs no weight."""
        self.proxy_down_until_ms = self.clock.now_ms() + int(seconds * 1000)

    def throttle_all(self, seconds: float) -> None:
        """Every request gets 429 with Retry-After for `seconds`; persisting earns a 418."""
        self.limiter.forced_until_ms = self.clock.now_ms() + int(seconds * 1000)

    def drop_websockets(self) -> None:
        self.ws_drop_generation += 1

    # -- REST ------------------------------------------------------------------------------------

    def handle(
        self,
        method: str,
        path: str,
        query: Mapping[str, str],
        client_ip: str = "127.0.0.1",
        body: bytes = b"",
    ) -> SimResponse:
        now = self.clock.now_ms()
        self.market.sync(now)
        if path.startswith("/_sim/"):
            return self._control(method, path, query, body, now)
        if path == "/health":
            return SimResponse(200, _dumps({"status": "ok"}), JSON_HEADERS)
        route = self._routes.get(path)
        if route is None or method not in ("GET", "HEAD"):
            status = 404 if route is None else 405
            body_obj = {"code": -5000, "msg": f"Path {path}, Method {method} is invalid"}
            self.stats.record(now, "other", status, 0, self.limiter.used(client_ip, now))
            return SimResponse(status, _dumps(body_obj), JSON_HEADERS)

        if path == PROXY_INFO_PATH and now < self.proxy_down_until_ms:
            self.stats.record(now, path, 502, 0, self.limiter.used(client_ip, now))
            return SimResponse(502, BAD_GATEWAY_HTML, (("Content-Type", "text/html"),))
        if now < self.firewall_until_ms:
            self.stats.record(now, path, self.firewall_status, 0, self.limiter.used(client_ip, now))
            if self.firewall_status == 403:
                return SimResponse(403, FIREWALL_403_HTML, (("Content-Type", "text/html"),))
            return SimResponse(451, FIREWALL_451_BODY, JSON_HEADERS)
        fate = decide(self.faults, self._fault_rng)
        delay_s = self.faults.latency_ms / 1000
        if fate.hang:
            self.stats.record(now, path, 0, 0, self.limiter.used(client_ip, now))
            return SimResponse(0, b"", hang=True)
        if fate.status is not None:
            _, code, msg = next(e for e in FIVE_XX if e[0] == fate.status)
            self.stats.record(now, path, fate.status, 0, self.limiter.used(client_ip, now))
            return SimResponse(
                fate.status, _dumps({"code": code, "msg": msg}), JSON_HEADERS, delay_s
            )

        weight = route.weight(query)
        admission = self.limiter.admit(client_ip, weight, now)
        if admission.status == 200 and route.separate_limit:
            admission = self._admit_separately(client_ip, now, admission)
        # Whole seconds of the exchange's clock, as every HTTP server stamps its answers.
        headers = [*JSON_HEADERS, ("Date", email.utils.formatdate(now // 1000, usegmt=True))]
        if route.weight_header:
            headers.append((WEIGHT_HEADER, str(admission.used_weight)))
        if admission.status != 200:
            self.stats.record(now, path, admission.status, 0, admission.used_weight)
            if not route.weight_header:  # the proxy reports its upstream failure its own way
                body = _dumps({"error": "Failed to fetch exchange info from Binance"})
                return SimResponse(502, body, tuple(headers), delay_s)
            if self.faults.retry_after:
                headers.append(("Retry-After", str(admission.retry_after_s)))
            return SimResponse(admission.status, self._refusal(admission), tuple(headers), delay_s)

        try:
            result = route.handler(query, now)
            status = 200
            out = result if isinstance(result, bytes) else _dumps(result)
        except BinanceError as err:
            status, out = err.status, _dumps({"code": err.code, "msg": err.msg})
        self.stats.record(now, path, status, weight, admission.used_weight)
        if status == 200 and fate.malformed:
            out = out[: max(1, len(out) // 2)]
        return SimResponse(status, out, tuple(headers), delay_s)

    def _admit_separately(self, ip: str, now: int, weight_admission: Admission) -> Admission:
        hist = self.hist_counter.admit(ip, now)
        if hist.status == 200:
            return weight_admission
        return attrs.evolve(hist, used_weight=weight_admission.used_weight)

    def _refusal(self, admission: Admission) -> bytes:
        if admission.status == 418:
            msg = (
                f"Way too many requests; IP banned until {admission.banned_until_ms}. "
                "Please use the websocket for live updates to avoid bans."
            )
        else:
            msg = (
                f"Too many requests; current limit is {self.limiter.limit} requests per minute. "
                "Please use the websocket for live updates to avoid polling the API."
            )
        return _dumps({"code": -1003, "msg": msg})

    # -- endpoints -------------------------------------------------------------------------------

    def _symbol(self, query: Mapping[str, str], now: int) -> SymbolState:
        name = query.get("symbol", "")
        if not name:
            raise _mandatory("symbol")
        state = self.market.at(name.upper(), now)
        if state is None or state.spec.status == "PENDING_TRADING":
            raise BinanceError(400, -1121, "Invalid symbol.")
        return state

    def _exchange_info(self, query: Mapping[str, str], now: int) -> bytes:
        if self._exchange_info_cache is None or self._exchange_info_cache[0] != self.market.version:
            specs = [s.spec for s in self.market.symbols.values()]
            symbols = json.dumps(
                [payloads.exchange_info_symbol(s) for s in specs],
                separators=(",", ":"),
                ensure_ascii=False,
            )
            self._exchange_info_cache = (self.market.version, symbols)
        head = payloads.exchange_info([], self.settings.weight_limit, now)
        del head["symbols"]
        text = json.dumps(head, separators=(",", ":"))[:-1]
        return f'{text},"symbols":{self._exchange_info_cache[1]}}}'.encode()

    def _trading(self, now: int) -> list[SymbolState]:
        self.market.advance_all(now)
        return [s for s in self.market.symbols.values() if s.spec.status == "TRADING"]

    def _open_price(self, state: SymbolState, now: int) -> float:
        day_ago = now - payloads.DAY_MS
        for ms, _, mark in state.snapshots:
            if ms >= day_ago:
                return mark
        return state.start_open_price

    def _ticker(self, query: Mapping[str, str], now: int) -> Any:
        if query.get("symbol"):
            state = self._symbol(query, now)
            return payloads.ticker_24hr(state, now, self._open_price(state, now))
        return [payloads.ticker_24hr(s, now, self._open_price(s, now)) for s in self._trading(now)]

    def _premium(self, query: Mapping[str, str], now: int) -> Any:
        if query.get("symbol"):
            return payloads.premium_index(self._symbol(query, now), now)
        return [payloads.premium_index(s, now) for s in self._trading(now)]

    def _open_interest(self, query: Mapping[str, str], now: int) -> Any:
        state = self._symbol(query, now)
        self.stats.record_oi(state.spec.symbol, now)
        return payloads.open_interest(state, self.clock.start_epoch_ms)

    def _open_interest_hist(self, query: Mapping[str, str], now: int) -> Any:
        state = self._symbol(query, now)
        period = query.get("period", "")
        if not period:
            raise _mandatory("period")
        period_ms = HIST_PERIODS_MS.get(period)
        if period_ms is None:
            raise BinanceError(400, -1120, "Invalid period.")
        limit = _int_param(query, "limit", 30)
        if not 1 <= limit <= 500:
            raise BinanceError(400, -1130, "Data sent for parameter 'limit' is not valid.")
        start = _int_param(query, "startTime", None)
        end = _int_param(query, "endTime", None)
        oldest = now - HIST_MAX_AGE_MS
        if start is not None and start < oldest:
            raise BinanceError(400, -1130, "Data sent for parameter 'startTime' is not valid.")
        last = min(end if end is not None else now, now)
        last -= last % period_ms
        first = max(oldest, start if start is not None else last - (limit - 1) * period_ms)
        first += -first % period_ms
        times = list(range(first, last + 1, period_ms))
        times = times[:limit] if start is not None else times[-limit:]
        live = {ms: (oi, mark) for ms, oi, mark in state.snapshots}
        listed_ms = self.clock.start_epoch_ms + state.listed_step * 1000
        rows = []
        supply = payloads.circulating_supply(state)
        for ms in times:
            if ms in live:
                oi, mark = live[ms]
            elif ms <= listed_ms and state.listed_step == 0:
                oi, mark = self.market.synthetic_history(state, ms)
            else:
                continue
            rows.append(payloads.open_interest_hist_row(state.spec.symbol, ms, oi, mark, supply))
        return rows

    # -- /_sim control and stats (unweighted) ----------------------------------------------------

    def _control(
        self, method: str, path: str, query: Mapping[str, str], body: bytes, now: int
    ) -> SimResponse:
        try:
            result = self._control_result(method, path, query, body, now)
        except BinanceError as err:
            return SimResponse(err.status, _dumps({"code": err.code, "msg": err.msg}), JSON_HEADERS)
        return SimResponse(200, _dumps(result), JSON_HEADERS)

    def _control_result(
        self, method: str, path: str, query: Mapping[str, str], body: bytes, now: int
    ) -> Any:
        if path == "/_sim/stats" and method == "GET":
            return self.stats.to_json(
                weight_limit=self.limiter.limit,
                now_ms=now,
                oi_times=query.get("oi_times", "1") not in ("0", "false"),
            )
        if path == "/_sim/market" and method == "GET":
            self.market.advance_all(now)
            return [
                {
                    "symbol": s.spec.symbol,
                    "contractType": s.spec.contract_type,
                    "status": s.spec.status,
                    "quoteAsset": s.spec.quote_asset,
                    "quoteVolume24h": s.quote_volume_24h,
                    "openInterest": s.open_interest,
                    "markPrice": s.mark_price,
                }
                for s in self.market.symbols.values()
            ]
        if path == "/_sim/faults" and method == "GET":
            return cattrs.unstructure(self.faults)
        if method != "POST":
            raise BinanceError(404, -5000, f"Path {path}, Method {method} is invalid")
        doc = _json_object(body)
        if path == "/_sim/faults":
            try:
                # Decoded as strictly as a scenario's faults: unknown keys and wrong types are
                # refused, and the message names the field.
                self.set_faults(decode_faults({**cattrs.unstructure(self.faults), **doc}))
            except ScenarioError as exc:
                raise BinanceError(400, -1130, f"invalid {exc}") from None
            except (ValueError, TypeError) as exc:  # an attrs validator: the value is out of range
                raise BinanceError(400, -1130, f"invalid faults: {exc}") from None
            return cattrs.unstructure(self.faults)
        if path in ("/_sim/ban", "/_sim/throttle", "/_sim/firewall", "/_sim/proxy-down"):
            seconds = doc.get("seconds")
            if isinstance(seconds, bool) or not isinstance(seconds, int | float) or seconds <= 0:
                raise BinanceError(400, -1130, "'seconds' must be a positive number")
            if path == "/_sim/ban":
                retry_after = doc.get("retry_after", True)
                if not isinstance(retry_after, bool):
                    raise BinanceError(400, -1130, "'retry_after' must be true or false")
                self.ban_all(seconds, retry_after=retry_after)
            elif path == "/_sim/firewall":
                status = doc.get("status", 403)
                if status not in FIREWALL_STATUSES:
                    raise BinanceError(400, -1130, "'status' must be 403 or 451")
                self.firewall(seconds, status)
            elif path == "/_sim/proxy-down":
                self.proxy_down(seconds)
            else:
                self.throttle_all(seconds)
            return {"until": now + int(seconds * 1000)}
        if path == "/_sim/drop-websockets":
            self.drop_websockets()
            return {"generation": self.ws_drop_generation}
        raise BinanceError(404, -5000, f"Path {path}, Method {method} is invalid")


def _int_param(query: Mapping[str, str], name: str, default: int | None) -> Any:
    raw = query.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise BinanceError(
            400,
            -1100,
            f"Illegal characters found in parameter '{name}'; legal range is '^[0-9]{{1,20}}$'.",
        ) from None


def _json_object(body: bytes) -> dict[str, Any]:
    try:
        doc = json.loads(body or b"{}")
    except ValueError:
        raise BinanceError(400, -1130, "body must be a JSON object") from None
    if not isinstance(doc, dict):
        raise BinanceError(400, -1130, "body must be a JSON object")
    return doc


__all__ = ["HIST_PERIOD_MS", "BinanceError", "BinanceSim", "SimResponse"]
