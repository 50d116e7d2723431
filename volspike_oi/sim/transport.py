"""An httpx transport that answers from an in-process simulator without sockets (any venue).

The same client code runs against it and against real loopback HTTP; only the cost differs.
An hour of polling under `MockClock` then takes seconds of CPU instead of minutes of hypercorn.
Latency and hanging requests take simulated time and honour the request's read timeout, like a
real socket would.
"""

from __future__ import annotations

from typing import Protocol

import httpx
import trio


class SimAnswer(Protocol):
    @property
    def status(self) -> int: ...
    @property
    def body(self) -> bytes: ...
    @property
    def headers(self) -> tuple[tuple[str, str], ...]: ...
    @property
    def delay_s(self) -> float: ...
    @property
    def hang(self) -> bool: ...


class SimHandler(Protocol):
    """A simulator's framework-free entry: one REST request in, one answer out."""

    def handle(
        self, method: str, path: str, query: dict[str, str], client_ip: str, body: bytes
    ) -> SimAnswer: ...


class InProcessTransport(httpx.AsyncBaseTransport):
    def __init__(self, sim: SimHandler, client_ip: str = "127.0.0.1") -> None:
        self.sim = sim
        self.client_ip = client_ip

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        body = await request.aread()
        query = {k: request.url.params.get(k, "") for k in request.url.params}
        answer = self.sim.handle(request.method, request.url.path, query, self.client_ip, body)
        read_timeout = request.extensions.get("timeout", {}).get("read")
        wait = float("inf") if answer.hang else answer.delay_s
        if wait:
            if read_timeout is not None and wait > read_timeout:
                await trio.sleep(read_timeout)
                raise httpx.ReadTimeout(
                    "simulated exchange did not answer in time", request=request
                )
            await trio.sleep(wait)
        return httpx.Response(
            answer.status, headers=list(answer.headers), content=answer.body, request=request
        )
