"""Shared by the simulator's specifications: an httpx client on a simulator, in-process or over
loopback, and the waits and reads every module used to copy.

In-process means `SimTransport` (no sockets: simulated hours cost seconds under `autojump_clock`);
loopback means the simulator served by hypercorn on 127.0.0.1:<free port>.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

import httpx
import pytest
import trio

from volspike_oi.sim.binance import BinanceSim, SimTransport, serve_sim

MakeSim = Callable[..., BinanceSim]
"""The `make_sim` fixture (tests/conftest.py): keyword arguments override `SimSettings`."""
Connect = Callable[[BinanceSim], AbstractAsyncContextManager[httpx.AsyncClient]]
"""The `connect` fixture: opens a client on a simulator."""

OI = "/fapi/v1/openInterest"
BTC = {"symbol": "BTCUSDT"}
WEIGHT = "X-MBX-USED-WEIGHT-1M"
CLIENT_TIMEOUT = httpx.Timeout(5.0)
"""Read timeouts fire on trio's clock, so a hanging simulator costs simulated seconds only."""


@asynccontextmanager
async def in_process(sim: BinanceSim) -> AsyncIterator[httpx.AsyncClient]:
    """An httpx client on `sim` through the in-process transport (no sockets)."""
    async with httpx.AsyncClient(
        transport=SimTransport(sim), base_url="http://sim", timeout=CLIENT_TIMEOUT
    ) as client:
        yield client


@pytest.fixture
async def sim_client(make_sim: MakeSim) -> AsyncIterator[tuple[BinanceSim, httpx.AsyncClient]]:
    """A default simulator (tests/conftest.py `make_sim`) and an in-process client on it."""
    sim = make_sim()
    async with in_process(sim) as client:
        yield sim, client


@pytest.fixture(params=["sim_transport", "loopback"])
async def connect(request: pytest.FixtureRequest, nursery: trio.Nursery) -> Connect:
    """Open an httpx client on a simulator: in-process, or real HTTP on 127.0.0.1:<free port>
    (the server lives in the test's nursery)."""

    @asynccontextmanager
    async def open_client(sim: BinanceSim) -> AsyncIterator[httpx.AsyncClient]:
        if request.param == "sim_transport":
            async with in_process(sim) as client:
                yield client
        else:
            binds = await nursery.start(serve_sim, sim, "127.0.0.1", 0)
            async with httpx.AsyncClient(base_url=binds[0], timeout=CLIENT_TIMEOUT) as client:
                yield client

    return open_client


async def sleep_until_ms(sim: BinanceSim, epoch_ms: int) -> None:
    """Sleep on trio's clock until the simulator's epoch time `epoch_ms`."""
    await trio.sleep_until(sim.clock.trio_time_at(epoch_ms))


async def get_ok(client: httpx.AsyncClient, path: str, **params: Any) -> Any:
    """GET `path`, insist on a 200 and return its JSON body."""
    response = await client.get(path, params=params)
    assert response.status_code == 200, response.text
    return response.json()
