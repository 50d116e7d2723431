"""CORS for the Next.js frontend (ALLOWED_ORIGINS): GET routes and their preflights answer an
allowed origin with that origin, a foreign origin gets no CORS header, ingest never answers
CORS, and `/ws` refuses a browser page from a foreign origin before the WebSocket opens.

HTTP runs through quart's in-memory test client; one WebSocket test connects over loopback to
the real HTTP actor (hypercorn), as a browser would.
"""

from __future__ import annotations

import functools
from typing import Any

import attrs
import pytest
import trio
from quart.testing.connections import WebsocketResponseError

from tests.conftest import START_MS
from tests.web.conftest import API_KEY, make_service, web_handle
from volspike_oi.actors import http_server
from volspike_oi.clock import WallClock
from volspike_oi.messages import Ingested
from volspike_oi.web.app import create_app
from volspike_oi.web.contract import WS_REFUSED_ORIGIN_STATUS
from volspike_oi.web.cors import cors_headers, websocket_origin_allowed

FRONTEND = "https://volspike.com"
LOCAL_DEV = "http://localhost:3000"
FOREIGN = "https://evil.example"
ALLOWED = (FRONTEND, LOCAL_DEV)
CORS_HEADERS = {
    "access-control-allow-origin",
    "access-control-allow-methods",
    "access-control-allow-headers",
    "access-control-max-age",
    "access-control-allow-credentials",
}
READ_ROUTES = [
    "/api/market/open-interest",
    "/api/market/open-interest/latest",
    "/api/market/open-interest/liquid-universe",
    "/api/open-interest-alerts",
    "/health",
]
INGEST_ROUTES = ["/api/market/open-interest/ingest", "/api/open-interest-alerts/ingest"]


def app_allowing(*origins: str) -> Any:
    ingest, _ = trio.open_memory_channel[Ingested](1)
    service = make_service(WallClock.starting_now(START_MS / 1000))
    return create_app(attrs.evolve(web_handle(service, ingest), allowed_origins=origins))


def cors_of(headers: Any) -> dict[str, str]:
    return {k.lower(): v for k, v in headers.items() if k.lower() in CORS_HEADERS}


async def preflight(client: Any, path: str, origin: str, method: str = "GET") -> Any:
    return await client.options(
        path,
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": method,
            "Access-Control-Request-Headers": "content-type",
        },
    )


@pytest.mark.parametrize("path", READ_ROUTES)
async def test_a_preflight_from_an_allowed_origin_is_answered_with_that_origin(path):
    client = app_allowing(*ALLOWED).test_client()
    for origin in ALLOWED:
        r = await preflight(client, path, origin)
        assert r.status_code == 200
        assert r.headers["Access-Control-Allow-Origin"] == origin
        assert "Origin" in r.headers["Vary"]
        assert set(r.headers["Access-Control-Allow-Methods"].split(", ")) >= {"GET", "OPTIONS"}
        assert r.headers["Access-Control-Allow-Headers"] == "content-type"
        assert "Access-Control-Allow-Credentials" not in r.headers


@pytest.mark.parametrize("path", READ_ROUTES)
async def test_a_get_from_an_allowed_origin_carries_that_origin(path):
    r = await app_allowing(*ALLOWED).test_client().get(path, headers={"Origin": FRONTEND})
    assert r.status_code in (200, 503)  # /health is 503 with no actor running
    assert cors_of(r.headers) == {"access-control-allow-origin": FRONTEND}
    assert "Origin" in r.headers["Vary"]


@pytest.mark.parametrize("path", READ_ROUTES)
async def test_a_foreign_origin_gets_no_cors_header(path):
    client = app_allowing(*ALLOWED).test_client()
    for r in (
        await preflight(client, path, FOREIGN),
        await client.get(path, headers={"Origin": FOREIGN}),
        await client.get(path, headers={"Origin": FRONTEND + ".evil.example"}),
    ):
        assert cors_of(r.headers) == {}


@pytest.mark.parametrize("path", INGEST_ROUTES)
async def test_ingest_routes_are_server_to_server_and_never_answer_cors(path):
    client = app_allowing(*ALLOWED).test_client()
    pre = await preflight(client, path, FRONTEND, method="POST")
    post = await client.post(
        path, json={}, headers={"Origin": FRONTEND, "X-API-Key": API_KEY + "-wrong"}
    )
    assert cors_of(pre.headers) == {}
    assert post.status_code == 401
    assert cors_of(post.headers) == {}


async def test_without_allowed_origins_no_route_answers_cors():
    client = app_allowing().test_client()
    for path in READ_ROUTES:
        assert cors_of((await preflight(client, path, FRONTEND)).headers) == {}
        assert cors_of((await client.get(path, headers={"Origin": FRONTEND})).headers) == {}


def test_cors_headers_need_an_allowed_origin_and_a_read_route():
    reads = {"GET", "HEAD", "OPTIONS"}
    assert cors_headers(FRONTEND, ALLOWED, route_methods=reads) == {
        "Access-Control-Allow-Origin": FRONTEND,
        "Vary": "Origin",
    }
    assert cors_headers(None, ALLOWED, route_methods=reads) == {}
    assert cors_headers(FOREIGN, ALLOWED, route_methods=reads) == {}
    assert cors_headers(FRONTEND, ALLOWED, route_methods={"POST", "OPTIONS"}) == {}


@pytest.mark.parametrize(
    ("origin", "allowed"),
    [
        (None, True),  # no browser: a server or a script
        (FRONTEND, True),
        (LOCAL_DEV, True),
        ("http://oi.internal:8080", True),  # the server's own page (the debug page)
        ("https://oi.internal:8080", True),  # the same, behind a TLS proxy
        (FOREIGN, False),
        ("http://oi.internal:9999", False),
        ("http://oi.internal:8080.evil.example", False),
        ("null", False),  # a sandboxed or file:// page
    ],
)
def test_websocket_origin_rule(origin, allowed):
    assert websocket_origin_allowed(origin, ALLOWED, host="oi.internal:8080") is allowed


async def test_a_websocket_from_a_foreign_origin_is_refused_before_it_opens_in_memory():
    client = app_allowing(*ALLOWED).test_client()
    refusals: list[WebsocketResponseError] = []
    try:
        async with client.websocket("/ws", headers={"Origin": FOREIGN}) as ws:
            await ws.receive()
    except* WebsocketResponseError as group:
        refusals.extend(e for e in group.exceptions if isinstance(e, WebsocketResponseError))
    [refused] = refusals
    response = refused.response
    assert response.status_code == WS_REFUSED_ORIGIN_STATUS
    body = await response.get_json()
    assert body["field"] == "Origin"
    assert FOREIGN in body["error"]


async def handshake_status(host: str, port: int, origin: str | None) -> int:
    """The status of a browser-like WebSocket handshake on `/ws` (101 = opened)."""
    lines = [
        "GET /ws HTTP/1.1",
        f"Host: {host}:{port}",
        "Upgrade: websocket",
        "Connection: Upgrade",
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
        "Sec-WebSocket-Version: 13",
        *([f"Origin: {origin}"] if origin else []),
    ]
    async with await trio.open_tcp_stream(host, port) as stream:
        await stream.send_all(("\r\n".join(lines) + "\r\n\r\n").encode())
        head = b""
        with trio.fail_after(10):
            while b"\r\n" not in head:
                head += await stream.receive_some(4096)
    return int(head.split()[1])


async def test_a_websocket_from_a_foreign_origin_is_refused_over_hypercorn(nursery, autojump_clock):
    service = make_service(WallClock.starting_now(START_MS / 1000))
    ingest, _ = trio.open_memory_channel[Ingested](1)
    handle = attrs.evolve(web_handle(service, ingest), allowed_origins=ALLOWED)
    binds = await nursery.start(
        functools.partial(http_server.run, handle, "127.0.0.1", 0, stop=trio.Event())
    )
    port = int(binds[0].rsplit(":", 1)[1])
    own = f"http://127.0.0.1:{port}"
    assert await handshake_status("127.0.0.1", port, FOREIGN) == WS_REFUSED_ORIGIN_STATUS
    for origin in (FRONTEND, own, None):
        assert await handshake_status("127.0.0.1", port, origin) == 101, origin
