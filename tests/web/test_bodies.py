"""Request bodies (issue 9 points 9 and 10): a refusal answered before the body is read keeps a
keep-alive connection usable, a body over HTTP_MAX_BODY_BYTES is answered 413 before it is read,
and invalid UTF-8 or pathological nesting is answered 400 at once.

The connection tests run the real HTTP actor (hypercorn on loopback, real clock) with the legacy
script's client, a requests.Session, in a thread.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Iterator
from typing import Any

import attrs
import requests
import trio

from tests.web.conftest import API_KEY, make_service, start_feed, web_handle
from volspike_oi.actors import http_server
from volspike_oi.clock import WallClock
from volspike_oi.hypercorn_config import KEEP_ALIVE_TIMEOUT_S
from volspike_oi.messages import Ingested
from volspike_oi.web.app import create_app
from volspike_oi.web.handle import DEFAULT_MAX_BODY_BYTES

NOW = 1_790_000_000.0
OI_INGEST = "/api/market/open-interest/ingest"
SNAPSHOT_BYTES = 80_000
"""A 650-symbol snapshot."""


def json_body(size: int) -> bytes:
    item = b'{"symbol":"BTCUSDT","openInterest":"1.5","markPrice":"100"},'
    return b'{"data":[' + item * (size // len(item)) + b"{}]}"


async def serve(nursery: trio.Nursery) -> str:
    service = make_service(WallClock.starting_now(NOW))
    handle = web_handle(service, await start_feed(nursery, service))
    binds: list[str] = await nursery.start(
        functools.partial(http_server.run, handle, "127.0.0.1", 0, stop=trio.Event())
    )
    return binds[0]


def pairs_on_one_connection(base: str, pairs: int) -> dict[str, Any]:
    """`pairs` × (GET /health, POST an 80 KB snapshot with a wrong key) through one
    requests.Session; counts answers by status and the requests that timed out (2 s)."""
    body = json_body(SNAPSHOT_BYTES)
    counts: dict[str, Any] = {"timeouts": 0, "failed": 0, "statuses": {}}
    with requests.Session() as session:
        for _ in range(pairs):
            for method, path, data in (("GET", "/health", None), ("POST", OI_INGEST, body)):
                try:
                    r = session.request(
                        method, base + path, data=data, headers={"X-API-Key": "wrong"}, timeout=2
                    )
                except requests.Timeout:
                    counts["timeouts"] += 1
                except requests.RequestException:
                    counts["failed"] += 1
                else:
                    counts["statuses"][r.status_code] = counts["statuses"].get(r.status_code, 0) + 1
    return counts


async def test_refusals_before_the_body_is_read_keep_the_connection_usable(
    nursery: trio.Nursery,
) -> None:
    # Before the fix 9 of 150 pairs hung for the client's timeout (the early 401 left the body
    # unread, hypercorn closed the connection under the client).
    base = await serve(nursery)
    with trio.fail_after(120):
        counts = await trio.to_thread.run_sync(pairs_on_one_connection, base, 300)
    assert counts == {"timeouts": 0, "failed": 0, "statuses": {200: 300, 401: 300}}


def post_too_large(base: str) -> list[tuple[str, int, str, float]]:
    big = json_body(12_000_000)

    def chunks() -> Iterator[bytes]:  # no Content-Length: chunked, the cap is met while reading
        for i in range(0, len(big), 64 * 1024):
            yield big[i : i + 64 * 1024]

    answers = []
    with requests.Session() as session:
        for name, data in (("content-length", big), ("chunked", chunks())):
            started = time.monotonic()
            r = session.post(base + OI_INGEST, data=data, headers={"X-API-Key": API_KEY}, timeout=5)
            answers.append((name, r.status_code, r.json()["error"], time.monotonic() - started))
            assert r.headers["Connection"] == "close"
            assert session.get(base + "/health", timeout=2).status_code == 200  # a new connection
    return answers


async def test_a_12_mb_body_is_answered_413_quickly(nursery: trio.Nursery) -> None:
    base = await serve(nursery)
    with trio.fail_after(30):
        answers = await trio.to_thread.run_sync(post_too_large, base)
    for name, status, error, seconds in answers:
        assert status == 413, name
        assert error == f"request body too large: at most {DEFAULT_MAX_BODY_BYTES} bytes " + (
            "(HTTP_MAX_BODY_BYTES)"
        )
        assert seconds < 2.0, (name, seconds)


async def post(body: bytes, *, cap: int = DEFAULT_MAX_BODY_BYTES) -> tuple[int, dict[str, Any]]:
    ingest, _ = trio.open_memory_channel[Ingested](1)
    handle = web_handle(make_service(WallClock.starting_now(NOW)), ingest)
    app = create_app(attrs.evolve(handle, max_body_bytes=cap))
    r = await app.test_client().post(OI_INGEST, data=body, headers={"X-API-Key": API_KEY})
    return r.status_code, await r.get_json()


async def test_the_cap_is_the_handles_and_checked_on_the_headers_before_the_key() -> None:
    ingest, _ = trio.open_memory_channel[Ingested](1)
    handle = web_handle(make_service(WallClock.starting_now(NOW)), ingest)
    client = create_app(attrs.evolve(handle, max_body_bytes=1024)).test_client()
    body = json_body(2000)
    read = await client.post(OI_INGEST, data=body, headers={"X-API-Key": API_KEY})
    # No key at all: still 413, decided on Content-Length alone.
    headers = await client.post(OI_INGEST, data=body, headers={"Content-Length": str(len(body))})
    assert (read.status_code, headers.status_code) == (413, 413)
    assert headers.headers["Connection"] == "close"
    assert (await post(json_body(2000)))[0] == 400  # under the default cap: read, validated


async def test_invalid_utf8_and_pathological_nesting_answer_400_at_once() -> None:
    started = time.monotonic()
    invalid = await post(b'{"data": [], "timestamp": "\xff\xfe"}')
    nested = await post(b"[" * 1_000_000 + b"]" * 1_000_000)
    assert (invalid[0], invalid[1]["field"]) == (400, "$")
    assert "not valid JSON" in invalid[1]["error"]
    assert (nested[0], nested[1]["field"]) == (400, "$")
    assert nested[1]["error"] == "body is nested too deeply"
    assert time.monotonic() - started < 2.0


async def test_a_client_that_never_finishes_its_headers_is_cut_off(nursery: trio.Nursery) -> None:
    host, port = (await serve(nursery)).removeprefix("http://").split(":")
    started = trio.current_time()
    async with await trio.open_tcp_stream(host, int(port)) as stream:
        await stream.send_all(b"POST /api/market/open-interest/ingest HTTP/1.1\r\nHost: a\r\n")
        with trio.fail_after(KEEP_ALIVE_TIMEOUT_S + 3):
            assert await stream.receive_some() == b""  # closed, no answer
    assert trio.current_time() - started >= KEEP_ALIVE_TIMEOUT_S - 0.5
