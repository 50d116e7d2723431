"""The binance-proxy's outage, as the simulator plays it.

- /_sim/proxy-down (or `BinanceSim.proxy_down`): for the given seconds the proxy's route
  `/api/binance/futures/info` answers 502 Bad Gateway with nginx's HTML page, at no weight;
  Binance's own exchangeInfo answers as usual meanwhile; afterwards the proxy answers again.
"""

from __future__ import annotations

from collections.abc import Callable

import trio

from tests.conftest import START_MS
from tests.sim.conftest import WEIGHT, in_process, sleep_until_ms
from volspike_oi.sim.binance import BinanceSim

PROXY_INFO = "/api/binance/futures/info"
INFO = "/fapi/v1/exchangeInfo"


async def test_a_proxy_outage_answers_502_on_the_proxy_route_only_for_its_seconds(
    make_sim: Callable[..., BinanceSim], autojump_clock: trio.abc.Clock
) -> None:
    sim = make_sim()
    async with in_process(sim) as client:
        ordered = await client.post("/_sim/proxy-down", json={"seconds": 60})
        down = await client.get(PROXY_INFO)
        direct = await client.get(INFO)
        await sleep_until_ms(sim, START_MS + 59_999)
        last = await client.get(PROXY_INFO)
        await sleep_until_ms(sim, START_MS + 60_000)
        back = await client.get(PROXY_INFO)
    assert ordered.json() == {"until": START_MS + 60_000}
    assert (down.status_code, last.status_code) == (502, 502)
    assert down.headers["Content-Type"] == "text/html"
    assert b"502 Bad Gateway" in down.content
    assert direct.status_code == 200
    assert direct.headers[WEIGHT] == "1"  # the proxy's failures cost no weight
    assert back.status_code == 200
    assert back.json()["symbols"] == direct.json()["symbols"]
    assert sim.stats.by_status[502] == 2
