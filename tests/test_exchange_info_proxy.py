"""exchangeInfo through a binance-proxy that is down, under `autojump_clock`.

The proxy is tried first on every refresh; when it fails a few times in a row exchangeInfo is read
from Binance directly (weight 1), so a dead proxy never keeps the service from polling, and the
next refresh after the proxy answers again uses the proxy. The simulator plays the outage
(`BinanceSim.proxy_down`: nginx's 502 on the proxy's route; tests/sim/test_proxy_fault.py).
"""

from __future__ import annotations

import trio

from tests.conftest import START_MS
from tests.service_harness import NO_STREAM, start_stack, wait_until
from volspike_oi.messages import OiSample
from volspike_oi.sim.binance import BinanceSim

PROXY_INFO = "/api/binance/futures/info"
INFO = "/fapi/v1/exchangeInfo"
PROXY_ENV = {**NO_STREAM, "BINANCE_PROXY_URL": "http://binance-proxy.test"}


def first_sample_s(samples: dict[str, list[OiSample]], after: float) -> float:
    return min(s[0].received_at for s in samples.values() if s) - after


async def test_a_proxy_down_at_start_falls_back_to_binance_and_polling_starts(
    nursery, autojump_clock
):
    def proxy_down(sim: BinanceSim) -> None:
        sim.proxy_down(3600)

    stack = await start_stack(nursery, env=PROXY_ENV, prepare_sim=proxy_down)
    await wait_until(lambda: any(stack.recorder.samples.values()), timeout_s=120)
    log = list(stack.sim.stats.request_log)
    proxy = [(ms, status) for ms, path, status in log if path == PROXY_INFO]
    direct = [(ms, status) for ms, path, status in log if path == INFO]
    assert proxy
    assert all(status == 502 for _, status in proxy)
    assert len(proxy) <= 3  # "a few" failures, then Binance directly
    assert direct[0][1] == 200
    assert direct[0][0] >= proxy[-1][0]
    # From start to the first OI sample: the proxy's failures cost seconds, not the service.
    assert first_sample_s(stack.recorder.samples, START_MS / 1000) < 10


async def test_the_next_refresh_after_the_proxy_answers_again_uses_the_proxy(
    nursery, autojump_clock
):
    def proxy_down(sim: BinanceSim) -> None:
        sim.proxy_down(90)

    env = {**PROXY_ENV, "EXCHANGE_INFO_REFRESH_SEC": "60"}
    stack = await start_stack(nursery, env=env, prepare_sim=proxy_down)
    await trio.sleep(3 * 60)
    log = list(stack.sim.stats.request_log)
    info = [(ms, path, status) for ms, path, status in log if path in (PROXY_INFO, INFO)]
    served = [(ms - START_MS, path) for ms, path, status in info if status == 200]
    # Refreshes at ~0 s and ~60 s fall back to Binance; from ~120 s the proxy answers again.
    assert [p for _, p in served][:2] == [INFO, INFO]
    assert all(p == PROXY_INFO for ms, p in served if ms > 90_000)
    assert any(p == PROXY_INFO for ms, p in served if ms > 90_000)
    # While the proxy is down each refresh tries it first, then Binance: no refresh is lost.
    assert all(status in (200, 502) for _, _, status in info)
