"""`BinanceClient.exchange_info` with a binance-proxy configured, when the proxy fails.

Rules: the proxy is tried first on every call; after `PROXY_ATTEMPTS` failures (or at once, for
an answer that is not exchangeInfo) Binance is asked directly and the source says "binance";
`proxy_failing_since` says since when the proxy fails until it answers again. Under
`autojump_clock`, against the simulator's proxy outage (`BinanceSim.proxy_down`) or an
`httpx.MockTransport`.
"""

from __future__ import annotations

import json
import random
from collections.abc import AsyncIterator, Callable

import httpx
import pytest
import trio

from tests.conftest import START_MS
from tests.sim.conftest import MakeSim
from volspike_oi.budget import WeightBudget
from volspike_oi.clock import WallClock
from volspike_oi.metrics import Metrics
from volspike_oi.sim.binance import SimTransport
from volspike_oi.venues.binance.client import PROXY_ATTEMPTS, PROXY_INFO_PATH, BinanceClient

FAPI = "https://fapi.binance.test"
PROXY = "https://proxy.volspike.test"
INFO = "/fapi/v1/exchangeInfo"
MakeClient = Callable[[httpx.AsyncBaseTransport], tuple[BinanceClient, list[str]]]


@pytest.fixture
async def make_client() -> AsyncIterator[MakeClient]:
    """A client with a proxy on `inner`, and the list of paths it sent, in order."""
    opened: list[httpx.AsyncClient] = []

    def make(inner: httpx.AsyncBaseTransport) -> tuple[BinanceClient, list[str]]:
        paths: list[str] = []

        class Recording(httpx.AsyncBaseTransport):
            async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
                paths.append(request.url.path)
                return await inner.handle_async_request(request)

        http = httpx.AsyncClient(transport=Recording())
        opened.append(http)
        clock = WallClock.starting_now(START_MS / 1000)
        client = BinanceClient(
            http,
            WeightBudget(),
            clock,
            Metrics(),
            fapi_url=FAPI,
            proxy_url=PROXY,
            rng=random.Random(7),
        )
        return client, paths

    yield make
    for http in opened:
        await http.aclose()


async def test_a_proxy_that_is_down_is_tried_a_few_times_then_binance_answers(
    make_client: MakeClient, make_sim: MakeSim, autojump_clock: trio.abc.Clock
):
    sim = make_sim()
    sim.proxy_down(600)
    client, paths = make_client(SimTransport(sim))
    started = trio.current_time()
    info, source = await client.exchange_info()
    assert (source, bool(info.symbols)) == ("binance", True)
    assert paths == [PROXY_INFO_PATH] * PROXY_ATTEMPTS + [INFO]
    assert trio.current_time() - started < 2  # jittered backoff: 0.25 s, then 0.5 s at most
    assert client.proxy_failing_since == START_MS / 1000
    assert "HTTP 502" in client.proxy_error


async def test_the_proxy_is_tried_first_on_every_call_and_used_again_once_it_answers(
    make_client: MakeClient, make_sim: MakeSim, autojump_clock: trio.abc.Clock
):
    sim = make_sim()
    sim.proxy_down(60)
    client, paths = make_client(SimTransport(sim))
    _, first = await client.exchange_info()
    await trio.sleep(30)
    _, second = await client.exchange_info()
    await trio.sleep(60)
    paths.clear()
    _, third = await client.exchange_info()
    assert (first, second, third) == ("binance", "binance", "binance-proxy")
    assert paths == [PROXY_INFO_PATH]
    assert client.proxy_failing_since is None
    assert client.proxy_error == ""


async def test_a_proxy_answer_that_is_not_exchange_info_falls_back_at_once(
    make_client: MakeClient, make_sim: MakeSim, autojump_clock: trio.abc.Clock
):
    sim = make_sim()
    direct = SimTransport(sim)

    class WrongProxy(httpx.AsyncBaseTransport):
        async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
            if request.url.path == PROXY_INFO_PATH:
                body = json.dumps({"error": "not configured"}).encode()
                return httpx.Response(200, content=body, request=request)
            return await direct.handle_async_request(request)

    client, paths = make_client(WrongProxy())
    _, source = await client.exchange_info()
    assert source == "binance"
    assert paths == [PROXY_INFO_PATH, INFO]
    assert "exchangeInfo from the binance-proxy" in client.proxy_error
