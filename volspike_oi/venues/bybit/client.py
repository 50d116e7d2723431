"""Bybit v5 (linear USDT perpetuals) as a `VenueClient`: the universe from instruments-info, every
ticker in one REST call, the `tickers.{symbol}` WebSocket for pushes, and one symbol's
open-interest history (`history`, `/v5/market/open-interest`, for a baseline on a first start).

REST waits on the client's own `RateLimiter` (Bybit: 600 requests per 5 s per IP, which every
public endpoint shares, the history included: the docs list no rule of its own). Refusals:
HTTP 403 "access too frequent" is Bybit's IP ban ("wait for at least 10 minutes"), so every
request holds for `BAN_HOLD_S`; HTTP 429 and retCode 10006/10429 hold for one window. 5xx,
retCode 10016, timeouts, transport errors and bodies that are not JSON are retried with
jittered backoff, then raise `VenueUnavailable`; JSON of the wrong shape raises
`VenueDecodeError`. While the limiter holds, no request is sent: `VenueRateLimited` at once.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

import httpx
import trio

from volspike_oi.ratelimit import RateLimiter
from volspike_oi.venues.bybit.decode import (
    Envelope,
    decode_envelope,
    decode_history_page,
    decode_instruments_page,
    decode_ticker,
    instrument_of,
    reading_of,
    ticker_rows,
)
from volspike_oi.venues.bybit.stream import ConnectWs, follow_tickers, open_ws
from volspike_oi.venues.decoding import parse_json
from volspike_oi.venues.errors import (
    VenueDecodeError,
    VenueRateLimited,
    VenueUnavailable,
)
from volspike_oi.venues.model import Instrument, VenueName, VenueReading
from volspike_oi.venues.rest import Retry, with_retries

log = logging.getLogger(__name__)

VENUE: VenueName = "bybit"
IP_LIMIT = 600
IP_WINDOW_S = 5.0
BAN_HOLD_S = 600.0
"""Bybit's 403 "access too frequent": "wait for at least 10 minutes" (docs, Rate Limit Rules)."""
WINDOW_HOLD_S = 5.0
"""HTTP 429 ("system level frequency protection") and retCode 10006/10429: one IP window."""
RATE_LIMIT_CODES = frozenset({10006, 10429})
SERVER_ERROR_CODES = frozenset({10016})
ATTEMPTS = 3
"""Tries of one request before `VenueUnavailable` (5xx, retCode 10016, timeouts, cut bodies)."""
REQUEST_TIMEOUT = httpx.Timeout(10.0, connect=5.0, pool=5.0)
INSTRUMENTS_PAGE_LIMIT = 1000
MAX_INSTRUMENT_PAGES = 20
"""~650 linear contracts fit in one page of 1000; a cursor that never ends is a fault."""

HISTORY_PATH = "/v5/market/open-interest"
HISTORY_INTERVAL = "5min"
"""The finest `intervalTime` (5min, 15min, 30min, 1h, 4h, 1d)."""
HISTORY_PAGE_LIMIT = 200
"""The docs' maximum per page: 200 five-minute points are 16.7 hours."""
MAX_HISTORY_PAGES = 10
"""Ten pages reach back ~7 days; a cursor that never ends is a fault."""

PING_INTERVAL_S = 20.0
"""Bybit: "send the ping heartbeat packet every 20 seconds"."""
STALE_AFTER_S = 30.0
"""The server answers every ping, so even a quiet market yields a message every 20 s; 10 s
more for a pong on a slow path. Tickers of a whole universe arrive many times a second."""
FALLBACK_INTERVAL_S = 5.0
"""All tickers are one REST request (0.03 % of the IP limit at this pace), and 5 s is the
store's per-symbol cadence (OI_STORE_MIN_INTERVAL_SEC), so a stale stream loses no stored
sample; faster would only move ~300 KB more per call."""


def default_limiter() -> RateLimiter:
    """Bybit's published IP rule, a 10 % margin left for other processes and clock skew."""
    return RateLimiter(rate=IP_LIMIT, period_s=IP_WINDOW_S, burst=10)


class BybitClient:
    def __init__(
        self,
        http: httpx.AsyncClient,
        rest_url: str,
        ws_url: str,
        *,
        limiter: RateLimiter | None = None,
        connect_ws: ConnectWs = open_ws,
        rng: random.Random | None = None,
        stale_after_s: float = STALE_AFTER_S,
        fallback_interval_s: float = FALLBACK_INTERVAL_S,
        ping_interval_s: float = PING_INTERVAL_S,
    ) -> None:
        self.http = http
        self.rest_url = rest_url.rstrip("/")
        self.ws_url = ws_url
        self.limiter = limiter if limiter is not None else default_limiter()
        self.connect_ws = connect_ws
        self.rng = rng or random.Random()
        self._stale_after_s = stale_after_s
        self._fallback_interval_s = fallback_interval_s
        self.ping_interval_s = ping_interval_s
        self._bad_rows: set[str] = set()
        """Symbols whose ticker row was logged as undecodable: one warning each."""

    @property
    def venue(self) -> VenueName:
        return VENUE

    @property
    def stale_after_s(self) -> float:
        return self._stale_after_s

    @property
    def fallback_interval_s(self) -> float:
        return self._fallback_interval_s

    # -- REST ----------------------------------------------------------------------------------

    def _refused(self, detail: str, hold_s: float) -> VenueRateLimited:
        until = trio.current_time() + hold_s
        self.limiter.hold(until)
        log.warning("bybit refused for rate (%s): holding %.0f s", detail, hold_s)
        return VenueRateLimited(VENUE, detail, until)

    async def get_result(self, path: str, params: dict[str, str], what: str) -> Envelope:
        """GET `path`; the envelope of a retCode 0 answer."""

        async def send() -> httpx.Response:
            if self.limiter.held(trio.current_time()):
                raise VenueRateLimited(VENUE, "holding after a refusal", self.limiter.held_until)
            await self.limiter.acquire()
            return await self.http.get(self.rest_url + path, params=params, timeout=REQUEST_TIMEOUT)

        def read(response: httpx.Response) -> Envelope | Retry:
            status = response.status_code
            if status == 403:
                # Text, not JSON: "access too frequent". Any 403 holds: a blocked IP
                # gains nothing from asking again sooner.
                body = response.content[:80].decode("utf-8", "replace").strip()
                raise self._refused(f"HTTP 403 {body!r}", BAN_HOLD_S)
            if status == 429:
                raise self._refused("HTTP 429", WINDOW_HOLD_S)
            if status >= 500:
                return Retry(f"HTTP {status} on {path}")
            envelope = self._envelope(response, what)
            if envelope is None:
                return Retry(f"{what}: body is not JSON")
            if envelope.ret_code in RATE_LIMIT_CODES:
                raise self._refused(
                    f"retCode {envelope.ret_code} {envelope.ret_msg}", WINDOW_HOLD_S
                )
            if envelope.ret_code in SERVER_ERROR_CODES:
                return Retry(f"{what}: retCode {envelope.ret_code} {envelope.ret_msg}")
            if envelope.ret_code != 0 or status != 200:
                raise VenueUnavailable(
                    f"bybit {what}: HTTP {status} retCode {envelope.ret_code} {envelope.ret_msg}"
                )
            return envelope

        result = await with_retries(send, read, path, self.rng, attempts=ATTEMPTS)
        if isinstance(result, Retry):
            raise VenueUnavailable(f"bybit: {result.reason}")
        return result

    @staticmethod
    def _envelope(response: httpx.Response, what: str) -> Envelope | None:
        """The decoded envelope; None when the body is not JSON (cut short: worth a retry);
        `VenueDecodeError` when it is JSON of another shape."""
        try:
            doc: Any = parse_json(response.content, what)
        except VenueDecodeError:
            return None
        return decode_envelope(doc, what)

    async def instruments(self) -> Mapping[str, Instrument]:
        out: dict[str, Instrument] = {}
        cursor = ""
        for _ in range(MAX_INSTRUMENT_PAGES):
            params = {"category": "linear", "limit": str(INSTRUMENTS_PAGE_LIMIT)}
            if cursor:
                params["cursor"] = cursor
            envelope = await self.get_result(
                "/v5/market/instruments-info", params, "instruments-info"
            )
            page = decode_instruments_page(envelope.result, "instruments-info")
            for row in page.rows:
                instrument = instrument_of(row)
                if instrument is not None:
                    out[instrument.symbol] = instrument
            if not page.next_cursor:
                return out
            cursor = page.next_cursor
        raise VenueUnavailable(f"bybit instruments-info: more than {MAX_INSTRUMENT_PAGES} pages")

    async def snapshot(self, instruments: Mapping[str, Instrument]) -> Sequence[VenueReading]:
        envelope = await self.get_result("/v5/market/tickers", {"category": "linear"}, "tickers")
        readings = []
        for symbol, row in ticker_rows(envelope.result, "tickers"):
            instrument = instruments.get(symbol)
            if instrument is None:
                continue  # a USDC contract, a future, or a listing we do not know yet
            try:
                ticker = decode_ticker(row, f"tickers.result.list[symbol={symbol}]")
            except VenueDecodeError as exc:
                # One bad row costs only its symbol, logged once (it likely stays bad a while).
                if symbol in self._bad_rows:
                    log.debug("bybit tickers: %s left out again: %s", symbol, exc)
                else:
                    self._bad_rows.add(symbol)
                    log.warning(
                        "bybit tickers: %s left out, its row does not decode: %s", symbol, exc
                    )
                continue
            readings.append(reading_of(instrument, ticker, envelope.time_ms))
        return readings

    async def history(self, instrument: Instrument, since_ms: int) -> list[tuple[float, Decimal]]:
        """The 5-minute open-interest points of `instrument` from `since_ms` (epoch ms) on, as
        (epoch seconds, coin) oldest first: newest pages first, through `nextPageCursor`, until
        a page reaches back past `since_ms`. Coin as a live reading's (`HistoryPoint.contracts`
        × the bundle). A symbol Bybit does not know is `VenueUnavailable` (retCode 10001)."""
        by_time: dict[int, Decimal] = {}
        cursor = ""
        for _ in range(MAX_HISTORY_PAGES):
            params = {
                "category": "linear",
                "symbol": instrument.symbol,
                "intervalTime": HISTORY_INTERVAL,
                "limit": str(HISTORY_PAGE_LIMIT),
            }
            if cursor:
                params["cursor"] = cursor
            envelope = await self.get_result(HISTORY_PATH, params, "open-interest")
            page = decode_history_page(envelope.result, "open-interest")
            for point in page.points:
                if point.time_ms >= since_ms:
                    coin = instrument.coin(point.contracts, None)
                    if coin is not None:
                        by_time[point.time_ms] = coin
            oldest = min((p.time_ms for p in page.points), default=since_ms)
            if not page.next_cursor or not page.points or oldest <= since_ms:
                break
            cursor = page.next_cursor
        else:
            log.warning(
                "bybit open-interest %s: %d pages did not reach back to %d",
                instrument.symbol,
                MAX_HISTORY_PAGES,
                since_ms,
            )
        return [(at / 1000, coin) for at, coin in sorted(by_time.items())]

    # -- WebSocket -----------------------------------------------------------------------------

    async def stream(
        self,
        instruments: Mapping[str, Instrument],
        send: trio.MemorySendChannel[VenueReading],
        *,
        task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        await follow_tickers(
            self.ws_url,
            instruments,
            send,
            connect_ws=self.connect_ws,
            stale_after_s=self._stale_after_s,
            ping_interval_s=self.ping_interval_s,
            task_status=task_status,
        )
