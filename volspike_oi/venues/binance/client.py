"""The one way any actor talks to Binance REST: through the shared weight budget.

Every request first takes a start time from `WeightBudget` (and waits for it on trio's clock),
then reports the response's `X-MBX-USED-WEIGHT-1M` back. Each endpoint returns decoded attrs
values and raises only `ExchangeError`s: 429/418 put every lane on hold until Retry-After (or
the ban's end in the 418's body) and surface as `RateLimited` (callers decide whether to try
again after the hold), as does a firewall's 403/451 (a hold with doubling backoff); after any
hold one probe goes first and its answer opens the lanes again; 5xx, timeouts,
transport errors and bodies that are not JSON are retried with jittered exponential backoff;
`-1121` surfaces as `InvalidSymbol`; a body of the wrong shape as `DecodeError`.
"""

from __future__ import annotations

import email.utils
import logging
import random
from typing import Any, TypeVar

import httpx
import trio

from volspike_oi import metrics as m
from volspike_oi.budget import Lane, Reservation, WeightBudget
from volspike_oi.clock import WallClock
from volspike_oi.metrics import Metrics
from volspike_oi.venues.binance.decode import (
    ErrorBody,
    ExchangeInfo,
    OpenInterest,
    OpenInterestHistRow,
    PremiumIndex,
    Ticker24h,
    banned_until_ms,
    decode,
    decode_list,
    parse_json,
)
from volspike_oi.venues.binance.errors import (
    DecodeError,
    ExchangeError,
    ExchangeUnavailable,
    InvalidSymbol,
    RateLimited,
)

log = logging.getLogger(__name__)

WEIGHT_HEADER = "x-mbx-used-weight-1m"
REQUEST_TIMEOUT = httpx.Timeout(10.0, connect=5.0, pool=5.0)
BACKOFF_BASE_S = 0.25
BACKOFF_MAX_S = 8.0
PROXY_INFO_PATH = "/api/binance/futures/info"
PROXY_ATTEMPTS = 3
"""Failed tries of the binance-proxy (a few jittered seconds apart) before exchangeInfo is read
from Binance directly instead, for weight 1."""

T = TypeVar("T")


def backoff_s(attempt: int, rng: random.Random) -> float:
    """Full-jitter exponential backoff: uniform in [0, min(max, base·2^attempt)]."""
    return rng.uniform(0.0, min(BACKOFF_MAX_S, BACKOFF_BASE_S * 2**attempt))


class BinanceClient:
    def __init__(
        self,
        http: httpx.AsyncClient,
        budget: WeightBudget,
        clock: WallClock,
        metrics: Metrics,
        *,
        fapi_url: str,
        proxy_url: str | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.http = http
        self.budget = budget
        self.clock = clock
        self.metrics = metrics
        self.fapi_url = fapi_url.rstrip("/")
        self.proxy_url = proxy_url.rstrip("/") if proxy_url else None
        self.rng = rng or random.Random()
        self.proxy_failing_since: float | None = None
        """Epoch seconds since which every exchangeInfo through the proxy failed (None: the
        proxy answered last, or none is configured); `proxy_error` says how."""
        self.proxy_error = ""

    async def get_json(
        self,
        path: str,
        params: dict[str, str] | None = None,
        *,
        lane: Lane,
        weight: int,
        attempts: int = 4,
        base_url: str | None = None,
        reservation: Reservation | None = None,
    ) -> Any:
        """GET `path` and return its parsed JSON body, inside the budget.

        `reservation`, when given, is a start already taken from the budget (the OI poller
        paces its own schedule) and is used for the first attempt.
        """
        url = (base_url or self.fapi_url) + path
        last_error = "no attempt made"
        for attempt in range(attempts):
            if reservation is None or attempt > 0:
                reservation = self.budget.reserve(lane, weight, self.clock.now())
            await self.clock.sleep_until(reservation.start)
            if not self.budget.may_send(reservation, self.clock.now()):
                # A refusal arrived while we waited, or the probe after a hold is still out:
                # go back in line.
                raise RateLimited(0, max(self.budget.hold_until, self.clock.now()))
            self.metrics.inc(m.WEIGHT_SPENT, weight)
            if reservation.probe:
                self.metrics.inc(m.PROBES)
                log.info("probing %s after the %s hold", path, self.budget.hold_reason)
            sent_at = self.clock.now()
            try:
                response = await self.http.get(url, params=params, timeout=REQUEST_TIMEOUT)
            except httpx.TimeoutException:
                self.metrics.inc(m.TIMEOUTS)
                self.budget.probe_lost(reservation, self.clock.now())
                last_error = f"timeout on {path}"
            except httpx.TransportError as exc:
                self.metrics.inc(m.TRANSPORT_ERRORS)
                self.budget.probe_lost(reservation, self.clock.now())
                last_error = f"{type(exc).__name__} on {path}: {exc}"
            else:
                date_s = _date_s(response)
                if date_s is not None:
                    self.budget.exchange_clock.observe_date(date_s, sent_at, self.clock.now())
                used = response.headers.get(WEIGHT_HEADER)
                if used is not None and used.isdigit():
                    self.budget.observe(reservation, int(used), self.clock.now())
                status = response.status_code
                if status in (418, 429, 403, 451):
                    raise self._refusal(response, path)
                if self.budget.answered(reservation, self.clock.now()):
                    log.warning(
                        "Binance answered the probe on %s: requests flow again, ramping up", path
                    )
                if status >= 500:
                    self.metrics.inc(m.HTTP_5XX)
                    last_error = f"HTTP {status} on {path}"
                else:
                    try:
                        doc = parse_json(response.content, path)
                    except DecodeError as exc:
                        self.metrics.inc(m.MALFORMED)
                        last_error = str(exc)
                    else:
                        if status == 200:
                            return doc
                        self._raise_client_error(status, doc, path, params)
            if attempt + 1 < attempts:
                await trio.sleep(backoff_s(attempt, self.rng))
        raise ExchangeUnavailable(last_error)

    def _refusal(self, response: httpx.Response, path: str) -> RateLimited:
        """Put every lane on hold for a 429/418 or a firewall's 403/451; the error to raise."""
        status, now = response.status_code, self.clock.now()
        holding = bool(self.budget.hold_reason)  # a refused probe continues the same hold
        if status in (418, 429):
            self.metrics.inc(m.HTTP_418 if status == 418 else m.HTTP_429)
            ban_end_ms = banned_until_ms(response.content) if status == 418 else None
            until = self.budget.refused(
                status,
                _retry_after(response),
                now,
                banned_until_s=None
                if ban_end_ms is None
                else ban_end_ms / 1000 - self.budget.exchange_offset_s,
            )
            what = "a ban" if status == 418 else "the rate limit"
        else:
            self.metrics.inc(m.HTTP_403 if status == 403 else m.HTTP_451)
            kind = "restricted location" if status == 451 else "request blocked"
            until = self.budget.blocked(status, now, kind)
            what = f"the firewall ({kind})"
        if not holding:
            self.metrics.inc(m.holds(self.budget.hold_reason))
        log.warning(
            "Binance answered %d on %s (%s): every request holds %.0f s, then one probe",
            status,
            path,
            what,
            until - now,
        )
        return RateLimited(status, until)

    def _raise_client_error(
        self, status: int, doc: Any, path: str, params: dict[str, str] | None
    ) -> None:
        try:
            error = decode(doc, ErrorBody, path)
        except DecodeError:
            raise ExchangeError(f"HTTP {status} on {path}") from None
        if error.code == -1121:
            self.metrics.inc(m.INVALID_SYMBOL)
            raise InvalidSymbol((params or {}).get("symbol", "?"))
        raise ExchangeError(f"HTTP {status} on {path}: {error.code} {error.msg}")

    # -- endpoints -----------------------------------------------------------------------------

    def _decoded(self, doc: Any, cls: type[T], what: str) -> T:
        try:
            return decode(doc, cls, what)
        except DecodeError:
            self.metrics.inc(m.MALFORMED)
            raise

    def _decoded_list(self, doc: Any, cls: type[T], what: str) -> list[T]:
        try:
            return decode_list(doc, cls, what)
        except DecodeError:
            self.metrics.inc(m.MALFORMED)
            raise

    async def exchange_info(self) -> tuple[ExchangeInfo, str]:
        """exchangeInfo with where it came from ("binance-proxy" or "binance").

        With a binance-proxy configured it is tried first on every call, so the service goes
        back to it as soon as it answers; after `PROXY_ATTEMPTS` failures (or an answer that is
        not exchangeInfo) Binance is asked directly, for weight 1. A refusal (429/418/403/451)
        is not the proxy's failure: it holds every lane and is raised as it is.
        """
        if self.proxy_url:
            tried_at = self.clock.now()
            try:
                doc = await self.get_json(
                    PROXY_INFO_PATH,
                    lane=Lane.OTHER,
                    weight=1,
                    attempts=PROXY_ATTEMPTS,
                    base_url=self.proxy_url,
                )
                info = self._decoded(doc, ExchangeInfo, "exchangeInfo from the binance-proxy")
            except RateLimited:
                raise
            except ExchangeError as exc:
                self._proxy_failed(str(exc), tried_at)
            else:
                if self.proxy_failing_since is not None:
                    log.warning(
                        "the binance-proxy answers again after %.0f s: exchangeInfo through it",
                        self.clock.now() - self.proxy_failing_since,
                    )
                self.proxy_failing_since, self.proxy_error = None, ""
                return info, "binance-proxy"
        doc = await self.get_json("/fapi/v1/exchangeInfo", lane=Lane.OTHER, weight=1)
        return self._decoded(doc, ExchangeInfo, "exchangeInfo"), "binance"

    def _proxy_failed(self, error: str, tried_at: float) -> None:
        if self.proxy_failing_since is None:
            self.proxy_failing_since = tried_at
            log.warning(
                "the binance-proxy failed (%s): exchangeInfo from Binance directly (weight 1) "
                "until the proxy answers again; it is tried first on every refresh",
                error,
            )
        self.proxy_error = error

    async def ticker_24h_all(self) -> list[Ticker24h]:
        doc = await self.get_json("/fapi/v1/ticker/24hr", lane=Lane.OTHER, weight=40)
        return self._decoded_list(doc, Ticker24h, "ticker/24hr")

    async def premium_index_all(self) -> list[PremiumIndex]:
        doc = await self.get_json("/fapi/v1/premiumIndex", lane=Lane.OTHER, weight=10)
        return self._decoded_list(doc, PremiumIndex, "premiumIndex")

    async def open_interest(
        self, symbol: str, reservation: Reservation | None = None
    ) -> OpenInterest:
        # One attempt: the poller plans 99 % of the OI lane, so an immediate retry would build a
        # backlog; a failed symbol waits for its next turn in the schedule instead.
        doc = await self.get_json(
            "/fapi/v1/openInterest",
            {"symbol": symbol},
            lane=Lane.OI,
            weight=1,
            attempts=1,
            reservation=reservation,
        )
        return self._decoded(doc, OpenInterest, "openInterest")

    async def open_interest_hist(
        self, symbol: str, period: str, limit: int
    ) -> list[OpenInterestHistRow]:
        doc = await self.get_json(
            "/futures/data/openInterestHist",
            {"symbol": symbol, "period": period, "limit": str(limit)},
            lane=Lane.HIST,
            weight=0,
        )
        return self._decoded_list(doc, OpenInterestHistRow, "openInterestHist")


def _date_s(response: httpx.Response) -> float | None:
    """The response's `Date` header (the exchange's clock, whole seconds) as epoch seconds."""
    raw = response.headers.get("date")
    if raw is None:
        return None
    try:
        return email.utils.parsedate_to_datetime(raw).timestamp()
    except (TypeError, ValueError):
        return None


def _retry_after(response: httpx.Response) -> float | None:
    raw = response.headers.get("retry-after")
    try:
        return float(raw) if raw is not None else None
    except ValueError:
        return None
