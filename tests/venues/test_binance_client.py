"""`BinanceClient`: every request inside the weight budget, decoded values out, one error family.

Rules: each endpoint returns decoded attrs values; 429/418 raise `RateLimited` at once and put the
whole budget on hold until Retry-After; 5xx, timeouts, transport errors and bodies that are not
JSON are retried with backoff, then raise `ExchangeUnavailable`; -1121 raises `InvalidSymbol`; a
200 of the wrong shape raises `DecodeError` and counts as malformed; the used-weight header reaches
the budget; exchangeInfo goes through the binance-proxy when one is configured.

The simulator is reached through its in-process transport, or an `httpx.MockTransport` answers
when a test needs one exact response. Everything runs under `autojump_clock`: the client waits on
budget start times, backoff and read timeouts, all on trio's clock. (The budget's own arithmetic
is specified in tests/test_budget.py; the service's reaction to refusals and outages in
tests/test_service_reliability.py.)
"""

from __future__ import annotations

import random
from collections.abc import AsyncIterator, Callable
from decimal import Decimal
from typing import Any

import attrs
import httpx
import pytest
import trio
from hypothesis import given
from hypothesis import strategies as st

from tests.conftest import START_MS
from tests.sim.conftest import MakeSim
from volspike_oi import metrics as m
from volspike_oi.budget import (
    BAN_END_MARGIN_S,
    FIREWALL_FIRST_HOLD_S,
    MINUTE_S,
    PROBE_WAIT_S,
    Lane,
    WeightBudget,
)
from volspike_oi.clock import WallClock
from volspike_oi.metrics import Metrics
from volspike_oi.sim.binance import BinanceSim, SimTransport
from volspike_oi.venues.binance.client import (
    BACKOFF_BASE_S,
    BACKOFF_MAX_S,
    BinanceClient,
    backoff_s,
)
from volspike_oi.venues.binance.decode import (
    ExchangeInfo,
    OpenInterest,
    OpenInterestHistRow,
    PremiumIndex,
    Ticker24h,
    banned_until_ms,
)
from volspike_oi.venues.binance.errors import (
    DecodeError,
    ExchangeError,
    ExchangeUnavailable,
    InvalidSymbol,
    RateLimited,
)

FAPI = "https://fapi.binance.test"
PROXY = "https://proxy.volspike.test"
OI_BODY = {"symbol": "BTCUSDT", "openInterest": "95744.938", "time": START_MS}
Handler = Callable[[httpx.Request], httpx.Response]


@attrs.define
class Recording(httpx.AsyncBaseTransport):
    """Passes requests to `inner`, noting when (epoch seconds) each was sent and its URL."""

    inner: httpx.AsyncBaseTransport
    clock: WallClock
    sent: list[tuple[float, str]] = attrs.Factory(list)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.sent.append((self.clock.now(), str(request.url)))
        return await self.inner.handle_async_request(request)

    @property
    def paths(self) -> list[str]:
        return [httpx.URL(url).path for _, url in self.sent]


@attrs.frozen
class Rig:
    client: BinanceClient
    transport: Recording
    budget: WeightBudget
    metrics: Metrics
    clock: WallClock


@pytest.fixture
async def rig() -> AsyncIterator[Callable[..., Rig]]:
    """Build a client (inside trio) on a transport; closes its httpx client afterwards."""
    opened: list[httpx.AsyncClient] = []

    def make(inner: httpx.AsyncBaseTransport, proxy_url: str | None = None) -> Rig:
        clock = WallClock.starting_now(START_MS / 1000)
        transport = Recording(inner, clock)
        http = httpx.AsyncClient(transport=transport)
        opened.append(http)
        budget, metrics = WeightBudget(), Metrics()
        client = BinanceClient(
            http,
            budget,
            clock,
            metrics,
            fapi_url=FAPI,
            proxy_url=proxy_url,
            rng=random.Random(7),
        )
        return Rig(client, transport, budget, metrics, clock)

    yield make
    for http in opened:
        await http.aclose()


def answering(*answers: httpx.Response | Exception) -> httpx.MockTransport:
    """A transport giving `answers` in turn (an exception is raised), the last one for ever."""
    queue = list(answers)

    def handle(request: httpx.Request) -> httpx.Response:
        answer = queue.pop(0) if len(queue) > 1 else queue[0]
        if isinstance(answer, Exception):
            raise answer
        return answer

    return httpx.MockTransport(handle)


def sim_rig(rig: Callable[..., Rig], sim: BinanceSim, **kw: Any) -> Rig:
    return rig(SimTransport(sim), **kw)


# -- every endpoint, decoded ----------------------------------------------------------------------


async def test_every_endpoint_returns_decoded_values_from_the_simulator(
    rig: Callable[..., Rig], make_sim: MakeSim, autojump_clock: trio.abc.Clock
):
    r = sim_rig(rig, make_sim())
    info, source = await r.client.exchange_info()
    tickers = await r.client.ticker_24h_all()
    marks = await r.client.premium_index_all()
    oi = await r.client.open_interest("BTCUSDT")
    hist = await r.client.open_interest_hist("BTCUSDT", "5m", 3)
    assert isinstance(info, ExchangeInfo)
    assert source == "binance"
    assert "BTCUSDT" in {s.symbol for s in info.symbols}
    assert tickers
    assert all(isinstance(t, Ticker24h) for t in tickers)
    assert all(isinstance(t.quote_volume, Decimal) for t in tickers)
    assert marks
    assert all(isinstance(p, PremiumIndex) and p.mark_price > 0 for p in marks)
    assert isinstance(oi, OpenInterest)
    assert (oi.symbol, oi.open_interest > 0) == ("BTCUSDT", True)
    assert len(hist) == 3
    assert all(isinstance(row, OpenInterestHistRow) for row in hist)
    assert [row.timestamp_ms for row in hist] == sorted(row.timestamp_ms for row in hist)
    assert r.transport.paths == [
        "/fapi/v1/exchangeInfo",
        "/fapi/v1/ticker/24hr",
        "/fapi/v1/premiumIndex",
        "/fapi/v1/openInterest",
        "/futures/data/openInterestHist",
    ]


async def test_each_request_counts_its_binance_weight_as_spent(
    rig: Callable[..., Rig], make_sim: MakeSim, autojump_clock: trio.abc.Clock
):
    r = sim_rig(rig, make_sim())
    await r.client.exchange_info()  # 1
    await r.client.ticker_24h_all()  # 40
    await r.client.premium_index_all()  # 10
    await r.client.open_interest("BTCUSDT")  # 1
    await r.client.open_interest_hist("BTCUSDT", "5m", 1)  # 0: it has a limit of its own
    assert r.metrics.get(m.WEIGHT_SPENT) == 52


async def test_exchange_info_goes_through_the_proxy_when_one_is_configured(
    rig: Callable[..., Rig], make_sim: MakeSim, autojump_clock: trio.abc.Clock
):
    r = sim_rig(rig, make_sim(), proxy_url=PROXY + "/")
    info, source = await r.client.exchange_info()
    await r.client.open_interest("BTCUSDT")
    assert source == "binance-proxy"
    assert info.symbols
    assert [url for _, url in r.transport.sent] == [
        PROXY + "/api/binance/futures/info",
        FAPI + "/fapi/v1/openInterest?symbol=BTCUSDT",  # everything else still goes to Binance
    ]


async def test_an_oi_request_with_a_reservation_is_sent_at_its_start(
    rig: Callable[..., Rig], make_sim: MakeSim, autojump_clock: trio.abc.Clock
):
    r = sim_rig(rig, make_sim())
    reservation = r.budget.reserve(Lane.OI, 1, r.clock.now() + 7)
    await r.client.open_interest("BTCUSDT", reservation)
    [(sent_at, _)] = r.transport.sent
    assert sent_at == pytest.approx(reservation.start)


# -- the used-weight header -----------------------------------------------------------------------


async def test_the_used_weight_header_reaches_the_budget(
    rig: Callable[..., Rig], autojump_clock: trio.abc.Clock
):
    used = httpx.Response(200, json=OI_BODY, headers={"X-MBX-USED-WEIGHT-1M": "1234"})
    r = rig(answering(used))
    await trio.sleep(10)  # past the first seconds of the minute, where readings are not trusted
    await r.client.open_interest("BTCUSDT")
    minute = int(r.clock.now() // MINUTE_S)
    assert r.budget.last_server_used == 1234
    assert r.budget.foreign_by_minute[minute] == 1234 - 1  # all but our one request
    assert r.budget.foreign_per_min(r.clock.now()) > 0


async def test_another_process_s_weight_on_the_ip_is_seen_through_the_header(
    rig: Callable[..., Rig], make_sim: MakeSim, autojump_clock: trio.abc.Clock
):
    r = sim_rig(rig, make_sim(background_weight=1200))
    await trio.sleep(30)
    await r.client.open_interest("BTCUSDT")
    assert r.budget.last_server_used > 500
    assert r.budget.oi_rate_per_min(r.clock.now()) < r.budget.oi_per_min


@pytest.mark.parametrize("header", ["", "12.5", "-3", "many"])
async def test_a_used_weight_header_that_is_not_a_whole_number_is_ignored(
    rig: Callable[..., Rig], autojump_clock: trio.abc.Clock, header: str
):
    r = rig(answering(httpx.Response(200, json=OI_BODY, headers={"X-MBX-USED-WEIGHT-1M": header})))
    await trio.sleep(10)
    assert await r.client.open_interest("BTCUSDT") == OpenInterest(
        "BTCUSDT", Decimal("95744.938"), START_MS
    )
    assert r.budget.last_server_used == 0


# -- refusals: 429 and 418 ------------------------------------------------------------------------


@pytest.mark.parametrize(("status", "metric"), [(429, m.HTTP_429), (418, m.HTTP_418)])
async def test_a_refusal_raises_rate_limited_at_once_and_the_budget_holds_until_retry_after(
    rig: Callable[..., Rig], make_sim: MakeSim, autojump_clock: trio.abc.Clock, status, metric
):
    sim = make_sim()
    (sim.throttle_all if status == 429 else sim.ban_all)(30)
    r = sim_rig(rig, sim)
    await trio.sleep(10)
    with pytest.raises(RateLimited) as caught:
        await r.client.ticker_24h_all()
    refused_at = r.clock.now()
    assert caught.value.status == status
    assert len(r.transport.sent) == 1  # never retried: the caller decides
    assert r.metrics.get(metric) == 1
    assert caught.value.hold_until == r.budget.hold_until
    assert r.budget.hold_until >= refused_at + 19  # Retry-After: whole seconds to the end
    assert isinstance(caught.value, ExchangeError)

    await r.client.open_interest("BTCUSDT")  # waits out the hold, then succeeds
    assert r.transport.sent[1][0] >= r.budget.hold_until


async def test_a_request_whose_start_falls_in_a_new_hold_is_not_sent(
    rig: Callable[..., Rig], make_sim: MakeSim, autojump_clock: trio.abc.Clock
):
    r = sim_rig(rig, make_sim())
    reservation = r.budget.reserve(Lane.OI, 1, r.clock.now() + 5)
    outcome: list[BaseException] = []

    async def poll() -> None:
        try:
            await r.client.open_interest("BTCUSDT", reservation)
        except RateLimited as exc:
            outcome.append(exc)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(poll)
        await trio.sleep(1)
        until = r.budget.refused(429, 60, r.clock.now())  # another request was refused
    [error] = outcome
    assert isinstance(error, RateLimited)
    assert error.hold_until == until
    assert r.transport.sent == []


async def test_a_418_without_retry_after_holds_until_the_ban_end_in_its_body_then_probes_once(
    rig: Callable[..., Rig], make_sim: MakeSim, autojump_clock: trio.abc.Clock
):
    sim = make_sim()
    sim.ban_all(60, retry_after=False)
    r = sim_rig(rig, sim)
    with pytest.raises(RateLimited):
        await r.client.ticker_24h_all()
    assert r.budget.hold_until == pytest.approx(START_MS / 1000 + 60 + BAN_END_MARGIN_S)
    assert r.budget.hold_reason == "binance_ban"
    assert "banned until" in r.budget.hold_detail
    got: list[object] = []

    async def fetch(symbol: str) -> None:
        got.append(await r.client.open_interest(symbol))

    async with trio.open_nursery() as nursery:
        for symbol in ("BTCUSDT", "ETHUSDT", "SOLUSDT"):
            nursery.start_soon(fetch, symbol)
    probe, *rest = r.transport.sent[1:]
    assert probe[0] == pytest.approx(r.budget.hold_until)  # one request at the ban's end...
    assert all(at >= probe[0] + PROBE_WAIT_S for at, _ in rest)  # ...the others after its answer
    assert len(got) == 3
    assert r.metrics.get(m.PROBES) == 1
    assert r.budget.hold_reason == ""


@pytest.mark.parametrize(("status", "metric"), [(403, m.HTTP_403), (451, m.HTTP_451)])
async def test_a_firewall_answer_holds_every_lane_at_once_and_names_the_firewall(
    rig: Callable[..., Rig],
    make_sim: MakeSim,
    autojump_clock: trio.abc.Clock,
    caplog: pytest.LogCaptureFixture,
    status: int,
    metric: str,
):
    sim = make_sim()
    sim.firewall(30, status)
    r = sim_rig(rig, sim)
    with pytest.raises(RateLimited) as caught:
        await r.client.premium_index_all()
    assert caught.value.status == status
    assert len(r.transport.sent) == 1  # not retried as "not JSON"
    assert r.metrics.get(metric) == 1
    assert r.metrics.get(m.holds("binance_firewall")) == 1
    assert r.budget.hold_reason == "binance_firewall"
    assert r.budget.hold_until == pytest.approx(r.clock.now() + FIREWALL_FIRST_HOLD_S)
    assert "firewall" in caplog.text
    while True:  # each call waits out the hold and probes; backoff doubles until the block ends
        try:
            await r.client.open_interest("BTCUSDT")
            break
        except RateLimited:
            pass
    sent = [at - START_MS / 1000 for at, _ in r.transport.sent]
    assert sent == pytest.approx([0, 2, 6, 14, 30])
    assert r.budget.hold_reason == ""


@given(st.integers(10**12, 10**13))
def test_the_ban_end_is_read_from_the_418_body(ms: int) -> None:
    body = (
        f'{{"code":-1003,"msg":"Way too many requests; IP banned until {ms}. '
        'Please use the websocket for live updates to avoid bans."}'
    )
    assert banned_until_ms(body.encode()) == ms
    assert banned_until_ms(b"<html>Request blocked</html>") is None
    assert banned_until_ms(b'{"code":-1003,"msg":"Too many requests"}') is None


# -- retried failures -----------------------------------------------------------------------------


async def test_server_errors_are_retried_then_surface_as_exchange_unavailable(
    rig: Callable[..., Rig], make_sim: MakeSim, autojump_clock: trio.abc.Clock
):
    r = sim_rig(rig, make_sim(error_rate=1.0))
    with pytest.raises(ExchangeUnavailable, match=r"HTTP 5\d\d on /fapi/v1/ticker/24hr"):
        await r.client.ticker_24h_all()
    assert len(r.transport.sent) == 4
    assert r.metrics.get(m.HTTP_5XX) == 4
    assert r.metrics.get(m.WEIGHT_SPENT) == 4 * 40


async def test_an_oi_poll_is_tried_once(
    rig: Callable[..., Rig], make_sim: MakeSim, autojump_clock: trio.abc.Clock
):
    r = sim_rig(rig, make_sim(error_rate=1.0))
    with pytest.raises(ExchangeUnavailable):
        await r.client.open_interest("BTCUSDT")
    assert len(r.transport.sent) == 1
    assert r.metrics.get(m.HTTP_5XX) == 1


async def test_timeouts_are_retried_then_surface_as_exchange_unavailable(
    rig: Callable[..., Rig], make_sim: MakeSim, autojump_clock: trio.abc.Clock
):
    r = sim_rig(rig, make_sim(hang_rate=1.0))
    with pytest.raises(ExchangeUnavailable, match="timeout on /fapi/v1/premiumIndex"):
        await r.client.premium_index_all()
    assert len(r.transport.sent) == 4
    assert r.metrics.get(m.TIMEOUTS) == 4


async def test_transport_errors_are_retried_and_a_later_answer_is_returned(
    rig: Callable[..., Rig], autojump_clock: trio.abc.Clock
):
    r = rig(
        answering(
            httpx.ConnectError("connection refused"),
            httpx.Response(503, json={"code": -1001, "msg": "Internal error"}),
            httpx.Response(200, json=[{"symbol": "BTCUSDT", "quoteVolume": "1.5"}]),
        )
    )
    assert await r.client.ticker_24h_all() == [Ticker24h("BTCUSDT", Decimal("1.5"))]
    assert len(r.transport.sent) == 3
    assert (r.metrics.get(m.TRANSPORT_ERRORS), r.metrics.get(m.HTTP_5XX)) == (1, 1)


async def test_a_body_that_is_not_json_is_retried_and_counted_as_malformed(
    rig: Callable[..., Rig], autojump_clock: trio.abc.Clock
):
    r = rig(
        answering(
            httpx.Response(200, content=b'{"symbol": "BTCUS'),
            httpx.Response(200, json={"symbols": []}),
        )
    )
    info, _ = await r.client.exchange_info()
    assert info == ExchangeInfo([])
    assert len(r.transport.sent) == 2
    assert r.metrics.get(m.MALFORMED) == 1


async def test_bodies_that_are_never_json_end_in_exchange_unavailable_naming_the_cause(
    rig: Callable[..., Rig], make_sim: MakeSim, autojump_clock: trio.abc.Clock
):
    r = sim_rig(rig, make_sim(malformed_rate=1.0))
    with pytest.raises(ExchangeUnavailable, match="not JSON"):
        await r.client.exchange_info()
    assert r.metrics.get(m.MALFORMED) == 4


@given(st.integers(0, 30), st.integers(0, 2**32))
def test_backoff_is_full_jitter_capped_at_its_maximum(attempt: int, seed: int):
    wait = backoff_s(attempt, random.Random(seed))
    assert 0.0 <= wait <= min(BACKOFF_MAX_S, BACKOFF_BASE_S * 2**attempt)


# -- client errors and shapes ---------------------------------------------------------------------


async def test_an_invalid_symbol_raises_invalid_symbol_without_a_retry(
    rig: Callable[..., Rig], make_sim: MakeSim, autojump_clock: trio.abc.Clock
):
    r = sim_rig(rig, make_sim())
    with pytest.raises(InvalidSymbol) as caught:
        await r.client.open_interest("NOPEUSDT")
    assert caught.value.symbol == "NOPEUSDT"
    assert r.metrics.get(m.INVALID_SYMBOL) == 1
    assert len(r.transport.sent) == 1


async def test_an_invalid_symbol_on_a_retried_endpoint_is_not_retried(
    rig: Callable[..., Rig], autojump_clock: trio.abc.Clock
):
    r = rig(answering(httpx.Response(400, json={"code": -1121, "msg": "Invalid symbol."})))
    with pytest.raises(InvalidSymbol):
        await r.client.open_interest_hist("NOPEUSDT", "5m", 2)
    assert len(r.transport.sent) == 1


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        (
            httpx.Response(400, json={"code": -1102, "msg": "Mandatory parameter 'symbol'"}),
            "HTTP 400 on /fapi/v1/openInterest: -1102 Mandatory parameter 'symbol'",
        ),
        (httpx.Response(404, json={"unexpected": True}), "HTTP 404 on /fapi/v1/openInterest"),
    ],
    ids=["binance-error", "no-error-body"],
)
async def test_another_client_error_is_an_exchange_error_saying_what_binance_said(
    rig: Callable[..., Rig], autojump_clock: trio.abc.Clock, answer: httpx.Response, message: str
):
    r = rig(answering(answer))
    with pytest.raises(ExchangeError) as caught:
        await r.client.open_interest("BTCUSDT")
    assert type(caught.value) is ExchangeError
    assert str(caught.value) == message


@pytest.mark.parametrize(
    ("call", "body", "field"),
    [
        (
            lambda c: c.open_interest("BTCUSDT"),
            {**OI_BODY, "openInterest": 95744.938},
            "openInterest.openInterest",
        ),
        (lambda c: c.ticker_24h_all(), {"symbol": "BTCUSDT"}, "expected a list"),
        (
            lambda c: c.premium_index_all(),
            [{"symbol": "BTCUSDT", "markPrice": "1", "time": "1"}],
            "premiumIndex[0].time",
        ),
        (lambda c: c.exchange_info(), {"symbols": [{"symbol": "X"}]}, "exchangeInfo.symbols"),
    ],
    ids=["openInterest", "ticker", "premiumIndex", "exchangeInfo"],
)
async def test_a_200_of_the_wrong_shape_is_a_decode_error_counted_as_malformed(
    rig: Callable[..., Rig], autojump_clock: trio.abc.Clock, call, body: Any, field: str
):
    r = rig(answering(httpx.Response(200, json=body)))
    with pytest.raises(DecodeError, match=field.replace("[", r"\[").replace("]", r"\]")):
        await call(r.client)
    assert r.metrics.get(m.MALFORMED) == 1
    assert len(r.transport.sent) == 1  # the same body would come again: not retried
