"""Deribit as a `VenueClient`: the perpetuals, their OI over REST and the `ticker` stream.

Units (pinned in tests/venues/test_deribit_decode.py with the captures' numbers): an inverse
perpetual (BTC-PERPETUAL, ETH-PERPETUAL: quote USD, settled in coin) reports `open_interest` in
USD, not in its 10 USD contracts (559,791,310 at mark 29,932.79 ≈ 18.7 k BTC), so it is
`Instrument(kind="inverse", coin_per_contract=1)`: coin = USD / mark. A USDC-linear perpetual
reports coin, not its 0.01 ETH contracts (ETH_USDC-PERPETUAL 7,695.018 ETH at 3,187.42 ≈ 24.5 M
USD), so it is `linear` with `coin_per_contract=1`. `contracts` is always Deribit's number as
sent. The mark price is Deribit's own; a non-positive one is unknown (None), never 0.

Limits: public (non-matching-engine) requests cost 500 of 50,000 credits refilled at 10,000/s,
i.e. 20 requests/s sustained and a burst of 100, shared by REST and WebSocket requests. A refusal
is JSON-RPC error 10028 `too_many_requests` (HTTP 429 on REST); it becomes `VenueRateLimited`
and holds the limiter.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from decimal import Decimal
from typing import Any

import httpx
import trio

from volspike_oi.ratelimit import RateLimiter
from volspike_oi.venues.deribit.decode import (
    TOO_MANY_REQUESTS,
    BookSummaryRow,
    InstrumentRow,
    decode_book_summaries,
    decode_instruments,
    parse_json,
    rpc_error,
)
from volspike_oi.venues.deribit.stream import StreamSession, open_websocket, reading_of
from volspike_oi.venues.errors import (
    VenueDecodeError,
    VenueRateLimited,
    VenueUnavailable,
)
from volspike_oi.venues.model import ContractKind, Instrument, VenueName, VenueReading
from volspike_oi.venues.rest import Retry, with_retries

log = logging.getLogger(__name__)

INSTRUMENT_CURRENCIES = ("BTC", "ETH", "USDC")
"""`get_instruments`/`get_book_summary_by_currency` take one currency per call: BTC and ETH
list the inverse contracts, USDC every USDC-linear one."""
REQUESTS_PER_S = 20.0
BURST = 100.0
REFUSAL_HOLD_S = 5.0
"""Deribit names no wait with a 10028: an empty pool of 50,000 credits refills in 5 s."""
ATTEMPTS = 3
REQUEST_TIMEOUT = httpx.Timeout(10.0, connect=5.0, pool=5.0)
STALE_AFTER_S = 25.0
"""The stream asks for heartbeats every HEARTBEAT_INTERVAL_S (10 s, Deribit's minimum), so a
healthy connection is never silent for 10 s even when no ticker moves; 25 s is two missed
heartbeats plus slack for a slow network."""
FALLBACK_INTERVAL_S = 15.0
"""Three calls per sweep (BTC, ETH, USDC) every 15 s is 0.2 requests/s, 1 % of the credit rate,
and keeps readings at most 15 s old while the stream is down."""

ConnectWs = Callable[[str], AbstractAsyncContextManager[Any]]
"""Opens a WebSocket with `get_message` and `send_message` (trio-websocket's
`WebSocketConnection`); injectable so tests can drive the protocol in memory."""


def contract_kind(row: InstrumentRow) -> ContractKind:
    """Deribit names the type (`instrument_type`, older `future_type`: "linear"/"reversed");
    rows without either (2021) are inverse exactly when quoted in USD."""
    named = row.instrument_type or row.future_type
    if named == "linear":
        return "linear"
    if named == "reversed":
        return "inverse"
    return "inverse" if row.quote_currency == "USD" else "linear"


def instrument_of(row: InstrumentRow) -> Instrument:
    # Both kinds report OI in one unit per "contract" (USD for inverse, coin for linear), not in
    # Deribit's contract_size: coin_per_contract is 1 either way (see the module docstring).
    return Instrument(
        symbol=row.instrument_name,
        asset=row.base_currency,
        kind=contract_kind(row),
        coin_per_contract=Decimal(1),
    )


def is_tracked(row: InstrumentRow) -> bool:
    """Active perpetuals only: dated futures (and options, spot) are filtered out."""
    return row.kind == "future" and row.settlement_period == "perpetual" and row.is_active


def currency_of(symbol: str, instrument: Instrument) -> str:
    """The `currency` query that lists `symbol`: BTC_USDC-PERPETUAL → USDC, BTC-PERPETUAL → BTC."""
    if "_" in symbol:
        return symbol.split("_", 1)[1].split("-", 1)[0]
    return instrument.asset


class DeribitClient:
    def __init__(
        self,
        http: httpx.AsyncClient,
        rest_url: str,
        ws_url: str,
        *,
        limiter: RateLimiter | None = None,
        connect_ws: ConnectWs = open_websocket,
        stale_after_s: float = STALE_AFTER_S,
        fallback_interval_s: float = FALLBACK_INTERVAL_S,
        rng: random.Random | None = None,
    ) -> None:
        self.http = http
        self.rest_url = rest_url.rstrip("/")
        self.ws_url = ws_url
        self.limiter = limiter or RateLimiter(rate=REQUESTS_PER_S, period_s=1.0, burst=BURST)
        self.connect_ws = connect_ws
        self._stale_after_s = stale_after_s
        self._fallback_interval_s = fallback_interval_s
        self.rng = rng or random.Random()

    @property
    def venue(self) -> VenueName:
        return "deribit"

    @property
    def stale_after_s(self) -> float:
        return self._stale_after_s

    @property
    def fallback_interval_s(self) -> float:
        return self._fallback_interval_s

    # -- REST ----------------------------------------------------------------------------------

    def refused(self, detail: str, hold_s: float = REFUSAL_HOLD_S) -> VenueRateLimited:
        until = trio.current_time() + hold_s
        self.limiter.hold(until)
        log.warning("Deribit refused for rate (%s); holding %.0f s", detail, hold_s)
        return VenueRateLimited("deribit", detail, until)

    async def get_json(self, method: str, params: dict[str, str]) -> Any:
        """GET `/api/v2/<method>` inside the limiter; the parsed answer. Refusals raise at once,
        5xx, timeouts, transport errors and non-JSON bodies are retried, then unavailable."""
        url = f"{self.rest_url}/api/v2/{method}"

        async def send() -> httpx.Response:
            await self.limiter.acquire()
            return await self.http.get(url, params=params, timeout=REQUEST_TIMEOUT)

        def read(response: httpx.Response) -> Any:
            status = response.status_code
            doc: Any = None
            failure: Retry | None = None
            try:
                doc = parse_json(response.content, method)
            except VenueDecodeError as exc:
                if status < 500 and status != 429:
                    failure = Retry(str(exc))
            error = rpc_error(doc)
            if status == 429 or (error is not None and error.code == TOO_MANY_REQUESTS):
                raise self.refused(f"HTTP {status} on {method}", _retry_after(response))
            if status >= 500:
                return Retry(f"HTTP {status} on {method}")
            if error is not None:
                # Bad params, unknown method: retrying would not change the answer.
                raise VenueUnavailable(
                    f"deribit: HTTP {status} on {method}: {error.code} {error.message}"
                )
            if doc is None:
                # Not JSON (cut short), or JSON `null`: another attempt may get the whole answer.
                return failure or Retry(f"null answer on {method}")
            return doc

        result = await with_retries(send, read, method, self.rng, attempts=ATTEMPTS)
        if isinstance(result, Retry):
            raise VenueUnavailable(f"deribit: {result.reason} (after {ATTEMPTS} attempts)")
        return result

    async def instruments(self) -> Mapping[str, Instrument]:
        out: dict[str, Instrument] = {}
        for currency in INSTRUMENT_CURRENCIES:
            doc = await self.get_json(
                "public/get_instruments", {"currency": currency, "kind": "future"}
            )
            for row in decode_instruments(doc):
                if is_tracked(row):
                    out[row.instrument_name] = instrument_of(row)
        return out

    async def snapshot(self, instruments: Mapping[str, Instrument]) -> Sequence[VenueReading]:
        currencies = sorted({currency_of(s, i) for s, i in instruments.items()})
        readings: list[VenueReading] = []
        for currency in currencies:
            doc = await self.get_json(
                "public/get_book_summary_by_currency", {"currency": currency, "kind": "future"}
            )
            rows: list[BookSummaryRow] = decode_book_summaries(doc)
            for row in rows:
                instrument = instruments.get(row.instrument_name)
                if instrument is not None:
                    readings.append(
                        reading_of(
                            instrument,
                            row.open_interest,
                            row.mark_price,
                            row.creation_timestamp,
                        )
                    )
        return readings

    # -- stream --------------------------------------------------------------------------------

    async def stream(
        self,
        instruments: Mapping[str, Instrument],
        send: trio.MemorySendChannel[VenueReading],
        *,
        task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        session = StreamSession(
            instruments,
            send,
            limiter=self.limiter,
            stale_after_s=self._stale_after_s,
            on_refusal=self.refused,
        )
        await session.run(self.ws_url, self.connect_ws, task_status)


def _retry_after(response: httpx.Response) -> float:
    raw = response.headers.get("retry-after")
    try:
        return max(float(raw), 0.0) if raw is not None else REFUSAL_HOLD_S
    except ValueError:
        return REFUSAL_HOLD_S
