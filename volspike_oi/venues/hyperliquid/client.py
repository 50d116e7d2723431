"""`HyperliquidClient`: the perpetuals universe and OI over `POST /info`, live OI over `/ws`.

One REST call (`metaAndAssetCtxs`, weight 20 of 1200 per minute per IP) gives every perpetual's
listing and context, so `snapshot` is one request; the stream is one `activeAssetCtx`
subscription per coin (`stream.py`). Errors are the venue-neutral `VenueError` family: HTTP 429 →
`VenueRateLimited` and the limiter holds; 5xx, timeouts, transport errors and bodies cut short
(not JSON) are retried a couple of times, then `VenueUnavailable`; JSON of the wrong shape →
`VenueDecodeError`.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Mapping, Sequence
from typing import Any

import httpx
import trio

from volspike_oi.ratelimit import RateLimiter
from volspike_oi.venues.decoding import parse_json
from volspike_oi.venues.errors import VenueDecodeError, VenueRateLimited, VenueUnavailable
from volspike_oi.venues.hyperliquid.decode import (
    MetaAndAssetCtxs,
    decode_meta_and_asset_ctxs,
    instrument_of,
    reading_of,
)
from volspike_oi.venues.hyperliquid.stream import (
    ConnectWs,
    default_ws_limiter,
    open_ws,
    run_stream,
)
from volspike_oi.venues.model import Instrument, VenueName, VenueReading
from volspike_oi.venues.rest import Retry, with_retries

log = logging.getLogger(__name__)

VENUE: VenueName = "hyperliquid"
WEIGHT_PER_MIN = 1200
"""Hyperliquid's REST limit: aggregated weight per minute per IP."""
INFO_WEIGHT = 20
"""`metaAndAssetCtxs` (like every info request but a few light ones) weighs 20."""
REQUEST_TIMEOUT = httpx.Timeout(10.0, connect=5.0, pool=5.0)
ATTEMPTS = 3
REFUSAL_HOLD_S = 60.0
"""Hold after a 429 without Retry-After: Hyperliquid documents no Retry-After and counts weight
per minute, so a whole minute is the shortest hold sure to find the budget renewed."""
INSTRUMENTS_REUSE_S = 30.0
"""`instruments()` reuses a `metaAndAssetCtxs` body at most this old (the listing changes a few
times a week; the weight is better spent on fresh snapshots)."""
STALE_AFTER_S = 25.0
"""The client pings every `stream.PING_INTERVAL_S` (10 s) and every coin's context changes with
each oracle update (~3 s), so 25 s without a message is two lost pongs: the link is dead."""
FALLBACK_INTERVAL_S = 5.0
"""One snapshot every 5 s while the stream is down: 240 of the IP's 1200 weight per minute,
about as fresh as the stream's slowest coins, leaving room for reconnects and other processes."""


def default_limiter() -> RateLimiter:
    """1200 weight per minute; a burst of three snapshots (60 weight) at once."""
    return RateLimiter(rate=WEIGHT_PER_MIN, period_s=60.0, burst=3 * INFO_WEIGHT)


class HyperliquidClient:
    """A `VenueClient` for Hyperliquid perpetuals (`venues/model.py`)."""

    def __init__(
        self,
        http: httpx.AsyncClient,
        rest_url: str,
        ws_url: str,
        *,
        limiter: RateLimiter | None = None,
        connect_ws: ConnectWs = open_ws,
        ws_limiter: RateLimiter | None = None,
        stale_after_s: float = STALE_AFTER_S,
        fallback_interval_s: float = FALLBACK_INTERVAL_S,
        rng: random.Random | None = None,
    ) -> None:
        self.http = http
        self.rest_url = rest_url.rstrip("/")
        self.ws_url = ws_url
        self.limiter = limiter or default_limiter()
        self.connect_ws = connect_ws
        # One pacer for every connection of this client: the venue counts messages per IP and
        # minute, across reconnects.
        self.ws_limiter = ws_limiter or default_ws_limiter()
        self._stale_after_s = stale_after_s
        self._fallback_interval_s = fallback_interval_s
        self.rng = rng or random.Random()
        self._last: tuple[float, MetaAndAssetCtxs] | None = None

    @property
    def venue(self) -> VenueName:
        return VENUE

    @property
    def stale_after_s(self) -> float:
        return self._stale_after_s

    @property
    def fallback_interval_s(self) -> float:
        return self._fallback_interval_s

    async def instruments(self) -> Mapping[str, Instrument]:
        """Listed perpetuals by name; delisted ones (`isDelisted: true`) are left out."""
        if self._last is not None and trio.current_time() - self._last[0] <= INSTRUMENTS_REUSE_S:
            body = self._last[1]
        else:
            body = await self._meta_and_asset_ctxs()
        return {e.name: instrument_of(e) for e in body.universe if not e.is_delisted}

    async def snapshot(self, instruments: Mapping[str, Instrument]) -> Sequence[VenueReading]:
        """Every requested instrument's OI and mark from one fresh `metaAndAssetCtxs` call."""
        body = await self._meta_and_asset_ctxs()
        return [
            reading_of(instruments[entry.name], ctx)
            for entry, ctx in body.pairs()
            if entry.name in instruments
        ]

    async def stream(
        self,
        instruments: Mapping[str, Instrument],
        send: trio.MemorySendChannel[VenueReading],
        *,
        task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        await run_stream(
            self.connect_ws,
            self.ws_url,
            instruments,
            send,
            stale_after_s=self._stale_after_s,
            limiter=self.ws_limiter,
            task_status=task_status,
        )

    async def _meta_and_asset_ctxs(self) -> MetaAndAssetCtxs:
        doc = await self.post_info({"type": "metaAndAssetCtxs"}, weight=INFO_WEIGHT)
        body = decode_meta_and_asset_ctxs(doc)
        self._last = (trio.current_time(), body)
        return body

    async def post_info(self, request: dict[str, Any], *, weight: int) -> Any:
        """POST `request` to `/info` inside the limiter and return the parsed JSON body."""
        url = f"{self.rest_url}/info"
        what = f"info {request.get('type')}"

        async def send() -> httpx.Response:
            if self.limiter.held(trio.current_time()):
                # Never send into a refusal: the caller decides when to come back.
                raise VenueRateLimited(VENUE, "holding after a 429", self.limiter.held_until)
            await self.limiter.acquire(weight)
            return await self.http.post(url, json=request, timeout=REQUEST_TIMEOUT)

        def read(response: httpx.Response) -> Any:
            status = response.status_code
            if status == 429:
                now = trio.current_time()
                until = now + _retry_after_s(response)
                self.limiter.hold(until)
                log.warning("Hyperliquid refused %s for rate; holding %.0f s", what, until - now)
                raise VenueRateLimited(VENUE, f"HTTP 429 on {what}", until)
            if status >= 500:
                return Retry(f"HTTP {status} on {what}")
            if status != 200:
                # 400/422 mean our request is wrong: retrying cannot help.
                raise VenueUnavailable(f"{VENUE}: HTTP {status} on {what}: {response.text[:200]}")
            try:
                return parse_json(response.content, what)
            except VenueDecodeError as exc:
                # A body cut short is a transport failure: the next attempt may arrive whole.
                return Retry(str(exc))

        def on_retry(reason: str, delay_s: float) -> None:
            log.info("Hyperliquid %s; retrying in %.2f s", reason, delay_s)

        result = await with_retries(
            send, read, what, self.rng, attempts=ATTEMPTS, on_retry=on_retry
        )
        if isinstance(result, Retry):
            raise VenueUnavailable(f"{VENUE}: {result.reason} (after {ATTEMPTS} attempts)")
        return result


def _retry_after_s(response: httpx.Response) -> float:
    value = response.headers.get("retry-after", "")
    return float(value) if value.isdigit() else REFUSAL_HOLD_S
