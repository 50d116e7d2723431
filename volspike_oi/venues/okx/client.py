"""The OKX client: USDT-margined swaps' universe, a REST snapshot of every swap's open interest
and mark price, the public WebSocket stream (`stream.py`), and one swap's open-interest history
(`history`, rubik statistics, for a baseline on a first start).

OKX limits public REST per endpoint rule: 20 requests / 2 s per IP for `instruments` and
`open-interest`, 10 / 2 s for `mark-price`, 5 / 2 s planned for the rubik history (see
`PUBLISHED_LIMITS`); over it HTTP 429 with
`{"msg":"Too Many Requests","code":"50011"}`. Each rule has its own `RateLimiter`; a refusal puts
that endpoint's limiter on hold (2 s, doubling on repeated refusals up to 60 s) and surfaces as
`VenueRateLimited`. 5xx, timeouts and transport errors are retried twice, then
`VenueUnavailable`; a body of the wrong shape is a `VenueDecodeError` naming OKX's keys.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from decimal import Decimal
from typing import Any

import httpx
import trio
from trio_websocket import WebSocketConnection

from volspike_oi.ratelimit import RateLimiter
from volspike_oi.venues.decoding import parse_json
from volspike_oi.venues.errors import VenueDecodeError, VenueRateLimited, VenueUnavailable
from volspike_oi.venues.model import Instrument, VenueName, VenueReading
from volspike_oi.venues.okx.decode import (
    Envelope,
    InstrumentRow,
    MarkPriceRow,
    OpenInterestRow,
    decode,
    decode_history_rows,
    decode_rows,
    instrument_decimals,
    tracked_rows,
)
from volspike_oi.venues.okx.stream import (
    CONNECT_TIMEOUT_S,
    MAX_MESSAGE_BYTES,
    PING_IDLE_S,
    STALE_AFTER_S,
    WebSocketOpener,
    follow,
    reading,
)
from volspike_oi.venues.units import split_bundle
from volspike_oi.venues.websocket import open_websocket

log = logging.getLogger(__name__)

INSTRUMENTS_PATH = "/api/v5/public/instruments"
OPEN_INTEREST_PATH = "/api/v5/public/open-interest"
MARK_PRICE_PATH = "/api/v5/public/mark-price"
HISTORY_PATH = "/api/v5/rubik/stat/contracts/open-interest-history"
PUBLISHED_LIMITS: dict[str, tuple[float, float]] = {
    INSTRUMENTS_PATH: (20, 2.0),
    OPEN_INTEREST_PATH: (20, 2.0),
    MARK_PRICE_PATH: (10, 2.0),
    HISTORY_PATH: (5, 2.0),
}
"""(requests, per seconds) per IP for each endpoint, from OKX's v5 docs. The history: the
docs page (as copied in rosssaunders/coincise) says 10 per 2 s per IP + instrument ID; the
other rubik statistics are 5 per 2 s per IP. One bucket of 5 per 2 s for the whole endpoint
keeps within either reading whatever the instruments (~110 s for 250 swaps, once)."""
HISTORY_PERIOD = "5m"
"""The finest `period` (default 5m; 15m/30m/1H/2H/4H and days also exist)."""
HISTORY_PAGE_LIMIT = 100
"""The docs' maximum (and default) per request."""
MAX_HISTORY_PAGES = 15
"""OKX serves "the latest 1,440 data entries": 15 pages of 100 reach them all."""
WS_CONNECTS_PER_S = 3
"""OKX: 3 WebSocket connection requests per second per IP."""
RATE_LIMIT_CODE = "50011"
FIRST_HOLD_S = 2.0
"""OKX's windows are 2 s long: a refusal ends with the window."""
MAX_HOLD_S = 60.0
RETRIES = 2
"""A 5xx, timeout or transport error is retried this many times before VenueUnavailable."""
RETRY_BACKOFF_S = 0.5
REQUEST_TIMEOUT = httpx.Timeout(10.0, connect=5.0, pool=5.0)
FALLBACK_INTERVAL_S = 3.0
"""The `open-interest` channel pushes every 3 s, so REST every 3 s keeps the same cadence while
the stream is down, at 2 requests per 3 s: under 5 % of the 20 and 10 per 2 s limits."""


def open_okx_websocket(url: str) -> AbstractAsyncContextManager[WebSocketConnection]:
    """A WebSocket to `url` on a stream we own (`venues/websocket.py` says why). No closing
    handshake on the way out: closing our TCP stream is all OKX needs."""
    return open_websocket(
        url, connect_timeout_s=CONNECT_TIMEOUT_S, max_message_bytes=MAX_MESSAGE_BYTES
    )


class OkxClient:
    """OKX as a `VenueClient`: REST on per-endpoint limiters, the stream on `connect_ws`.

    `limiters` replaces the limiter of an endpoint path (default: one per OKX rule,
    `PUBLISHED_LIMITS`, which OKX counts per endpoint, not per IP as a whole); `connect_ws` opens
    one WebSocket (tests inject their own); `stale_after_s` and `ping_idle_s` are OKX's
    keep-alive rule (ping after 15 s of silence, dead after 25 s), shorter in tests.
    """

    def __init__(
        self,
        http: httpx.AsyncClient,
        rest_url: str,
        ws_url: str,
        *,
        limiters: Mapping[str, RateLimiter] | None = None,
        connect_ws: WebSocketOpener = open_okx_websocket,
        stale_after_s: float = STALE_AFTER_S,
        ping_idle_s: float = PING_IDLE_S,
        fallback_interval_s: float = FALLBACK_INTERVAL_S,
        retry_backoff_s: float = RETRY_BACKOFF_S,
    ) -> None:
        self.http = http
        self.rest_url = rest_url.rstrip("/")
        self.ws_url = ws_url
        self.limiters: dict[str, RateLimiter] = {
            path: RateLimiter(rate=rate, period_s=period)
            for path, (rate, period) in PUBLISHED_LIMITS.items()
        }
        self.limiters.update(limiters or {})
        self.connect_limiter = RateLimiter(rate=WS_CONNECTS_PER_S, period_s=1.0)
        self.connect_ws = connect_ws
        self._stale_after_s = stale_after_s
        self.ping_idle_s = min(ping_idle_s, stale_after_s / 2)
        self._fallback_interval_s = fallback_interval_s
        self.retry_backoff_s = retry_backoff_s
        self._refusals: dict[str, int] = {}
        self._bad_rows: set[tuple[str, str]] = set()
        """(endpoint, instId) of rows already logged as undecodable: one warning each."""

    @property
    def venue(self) -> VenueName:
        return "okx"

    @property
    def stale_after_s(self) -> float:
        """25 s: OKX drops a connection silent for 30 s, and we ping after `ping_idle_s` (15 s)
        of silence, so a live connection always answers well within 25 s."""
        return self._stale_after_s

    @property
    def fallback_interval_s(self) -> float:
        return self._fallback_interval_s

    # -- REST ------------------------------------------------------------------------------------

    async def _get(self, path: str, params: dict[str, str]) -> list[Any]:
        """One GET's `data`, after the endpoint's limiter; refusals, retries and shapes mapped."""
        what = path.rsplit("/", 1)[-1]
        limiter = self.limiters[path]
        failures: list[str] = []
        for attempt in range(RETRIES + 1):
            if attempt:
                await trio.sleep(self.retry_backoff_s * 2 ** (attempt - 1))
            await limiter.acquire()
            try:
                response = await self.http.get(
                    self.rest_url + path, params=params, timeout=REQUEST_TIMEOUT
                )
            except httpx.TransportError as exc:
                failures.append(f"{type(exc).__name__}")
                continue
            if response.status_code >= 500:
                failures.append(f"HTTP {response.status_code}")
                continue
            if response.status_code == 429:
                raise self._refused(path, f"HTTP 429 {response.text[:80]!r}")
            try:
                body = parse_json(response.content, what)
            except VenueDecodeError:
                # A body cut short is a transport failure: the next attempt may arrive whole.
                failures.append("a body that is not JSON")
                continue
            envelope = decode(body, Envelope, what)
            if envelope.code == RATE_LIMIT_CODE:
                raise self._refused(path, f"HTTP {response.status_code} code {envelope.code}")
            if envelope.code != "0" or response.status_code != 200:
                # OKX's own failures (50001 "service temporarily unavailable", 50013 "busy")
                # and request errors alike: nothing usable, try again later.
                raise VenueUnavailable(
                    f"okx {what}: HTTP {response.status_code} code {envelope.code} {envelope.msg!r}"
                )
            self._refusals.pop(path, None)
            return envelope.data
        raise VenueUnavailable(f"okx {what}: {', '.join(failures)} after {RETRIES + 1} attempts")

    def _refused(self, path: str, detail: str) -> VenueRateLimited:
        refusals = self._refusals.get(path, 0) + 1
        self._refusals[path] = refusals
        hold_s = min(MAX_HOLD_S, FIRST_HOLD_S * 2 ** (refusals - 1))
        until = trio.current_time() + hold_s
        self.limiters[path].hold(until)
        log.warning("okx refused %s for rate (%s); holding %.0f s", path, detail, hold_s)
        return VenueRateLimited("okx", detail, until)

    async def instruments(self) -> Mapping[str, Instrument]:
        """Live USDT-settled linear swaps; coin-margined (`BTC-USD-SWAP`, settled in BTC) and
        USDC-settled swaps are left out. One contract is ctVal × ctMult coin of `ctValCcy`."""
        data = await self._get(INSTRUMENTS_PATH, {"instType": "SWAP"})
        out: dict[str, Instrument] = {}
        for i, row in enumerate(decode_rows(data, InstrumentRow, "instruments")):
            if row.settle_ccy != "USDT" or row.state != "live" or row.ct_type != "linear":
                continue
            ct_val, ct_mult = instrument_decimals(row, f"instruments.data[{i}]")
            asset, bundle = split_bundle(row.ct_val_ccy)
            out[row.inst_id] = Instrument(
                symbol=row.inst_id,
                asset=asset,
                kind="linear",
                coin_per_contract=ct_val * ct_mult * bundle,
            )
        return out

    async def snapshot(self, instruments: Mapping[str, Instrument]) -> Sequence[VenueReading]:
        """Two calls for every swap: open interest (contracts) and mark prices. USD is taken
        from OKX's mark price, not `oiUsd`, which older answers lack."""
        oi_data = await self._get(OPEN_INTEREST_PATH, {"instType": "SWAP"})
        rows = tracked_rows(
            oi_data, OpenInterestRow, "open-interest", instruments, self._bad_row("open-interest")
        )
        mark_data = await self._get(MARK_PRICE_PATH, {"instType": "SWAP"})
        marks = {
            row.inst_id: row.mark_px
            for row in tracked_rows(
                mark_data, MarkPriceRow, "mark-price", instruments, self._bad_row("mark-price")
            )
            if row.mark_px > 0
        }
        return [reading(instruments[row.inst_id], row, marks.get(row.inst_id)) for row in rows]

    def _bad_row(self, what: str) -> Callable[[str, VenueDecodeError], None]:
        """Logs a row of `what` that does not decode, once per instrument (the next snapshot
        will likely carry it again); the row is left out of the snapshot."""

        def on_bad(inst_id: str, error: VenueDecodeError) -> None:
            if (what, inst_id) in self._bad_rows:
                log.debug("okx %s: %s left out again: %s", what, inst_id, error)
                return
            self._bad_rows.add((what, inst_id))
            log.warning("okx %s: %s left out, its row does not decode: %s", what, inst_id, error)

        return on_bad

    async def history(self, instrument: Instrument, since_ms: int) -> list[tuple[float, Decimal]]:
        """The 5-minute open-interest points of `instrument` from `since_ms` (epoch ms) on, as
        (epoch seconds, coin) oldest first: newest first, 100 a page, older pages through
        `end` (records earlier than that ts), until a page reaches back past `since_ms` or is
        short. Coin is `oi` (contracts) × ctVal × ctMult, as a live reading's; OKX's own `oiCcy`
        is not used (the live path does not use it either). `ts` is taken as the time of the
        value; the docs do not say whether it opens or closes the period (5 minutes at most)."""
        by_time: dict[int, Decimal] = {}
        end: int | None = None
        for _ in range(MAX_HISTORY_PAGES):
            params = {
                "instId": instrument.symbol,
                "period": HISTORY_PERIOD,
                "limit": str(HISTORY_PAGE_LIMIT),
            }
            if end is not None:
                params["end"] = str(end)
            data = await self._get(HISTORY_PATH, params)
            rows = decode_history_rows(data, "open-interest-history")
            for row in rows:
                if row.ts_ms >= since_ms:
                    coin = instrument.coin(row.oi, None)
                    if coin is not None:
                        by_time[row.ts_ms] = coin
            if len(rows) < HISTORY_PAGE_LIMIT:
                break
            oldest = min(row.ts_ms for row in rows)
            if oldest <= since_ms:
                break
            end = oldest
        return [(at / 1000, coin) for at, coin in sorted(by_time.items())]

    async def stream(
        self,
        instruments: Mapping[str, Instrument],
        send: trio.MemorySendChannel[VenueReading],
        *,
        task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        await self.connect_limiter.acquire()
        await follow(
            self.connect_ws,
            self.ws_url,
            instruments,
            send,
            stale_after_s=self._stale_after_s,
            ping_idle_s=self.ping_idle_s,
            task_status=task_status,
        )
