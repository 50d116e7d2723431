"""The HTTP actor's start and stop contract: it hands its bound URLs to `task_status.started`,
and a stop lets a request already in flight finish (hypercorn's `shutdown_trigger` and graceful
window) while new connections are refused.

Real clock and loopback sockets: the in-flight request waits on a store write we release.
"""

from __future__ import annotations

import datetime as dt
import functools
from typing import Any

import httpx
import trio

from tests.fakes import EmptyStore
from tests.web.conftest import API_KEY, make_service, start_feed, web_handle
from volspike_oi.actors import http_server
from volspike_oi.clock import WallClock
from volspike_oi.service import Service
from volspike_oi.store.protocol import WriteBatch
from volspike_oi.views import iso

NOW = dt.datetime(2026, 10, 7, 8, 0, tzinfo=dt.UTC).timestamp()


class SlowStore(EmptyStore):
    """A store whose writes wait until the test lets them through."""

    def __init__(self) -> None:
        super().__init__()
        self.writing = trio.Event()
        self.release = trio.Event()

    async def write(self, batch: WriteBatch) -> int:
        self.writing.set()
        await self.release.wait()
        return await super().write(batch)


async def start_api(
    nursery: trio.Nursery, store: SlowStore, stop: trio.Event
) -> tuple[Service, list[str]]:
    clock = WallClock.starting_now(NOW)
    service = make_service(clock)
    ingest = await start_feed(nursery, service)
    handle = web_handle(service, ingest, store=store)
    binds: list[str] = await nursery.start(
        functools.partial(http_server.run, handle, "127.0.0.1", 0, stop=stop)
    )
    return service, binds


def snapshot_body() -> dict[str, Any]:
    item = {"symbol": "BTCUSDT", "openInterest": 1.5, "openInterestUsd": 150.0, "markPrice": 100}
    return {"data": [item], "timestamp": iso(NOW), "totalSymbols": 1}


async def test_the_http_actor_hands_its_bound_urls_to_started(nursery: trio.Nursery) -> None:
    _, binds = await start_api(nursery, SlowStore(), trio.Event())
    assert len(binds) == 1
    assert binds[0].startswith("http://127.0.0.1:")
    async with httpx.AsyncClient(base_url=binds[0]) as client:
        assert (await client.get("/openapi.json")).status_code == 200


async def test_a_stop_lets_the_request_in_flight_finish_and_refuses_new_ones() -> None:
    store, stop = SlowStore(), trio.Event()
    answers: list[httpx.Response] = []
    answered = trio.Event()
    async with trio.open_nursery() as nursery:
        service, binds = await start_api(nursery, store, stop)

        async def post() -> None:
            async with httpx.AsyncClient(base_url=binds[0], timeout=10) as client:
                answers.append(
                    await client.post(
                        "/api/market/open-interest/ingest",
                        json=snapshot_body(),
                        headers={"X-API-Key": API_KEY},
                    )
                )
            answered.set()

        nursery.start_soon(post)
        with trio.fail_after(5):
            await store.writing.wait()
        stop.set()  # the request is in the handler, waiting on the database
        await trio.sleep(0.2)
        async with httpx.AsyncClient(base_url=binds[0], timeout=2) as late:
            try:
                refused = (await late.get("/health")).status_code
            except httpx.TransportError:
                refused = None
        assert refused is None, "a new connection was accepted after the stop"
        store.release.set()
        with trio.fail_after(http_server.GRACEFUL_SHUTDOWN_S + 2):
            await answered.wait()
        nursery.cancel_scope.cancel(reason="test over")
    assert [a.status_code for a in answers] == [200]
    assert answers[0].json()["stored"] == 1
    assert "BTCUSDT" in service.web.snapshot
