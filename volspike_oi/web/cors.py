"""Cross-origin rules for the Next.js frontend (ALLOWED_ORIGINS): pure functions, no I/O.

The GET routes answer an allowed origin with `Access-Control-Allow-Origin: <that origin>` (and
`Vary: Origin`, so a cache never serves one origin's answer to another), preflights included;
any other origin gets no CORS header at all and the browser keeps the answer from its page.
Ingest (POST) is server-to-server and never answers CORS. The WebSocket has no CORS: its
handshake carries an Origin that the server must check itself (`websocket_origin_allowed`).
"""

from __future__ import annotations

from collections.abc import Collection
from urllib.parse import urlsplit

READ_METHODS = "GET, HEAD, OPTIONS"
PREFLIGHT_MAX_AGE_S = 600
"""Browsers cache a preflight this long (Chromium caps it at 2 hours)."""


def cors_headers(
    origin: str | None,
    allowed: Collection[str],
    *,
    route_methods: Collection[str],
    preflight_headers: str | None = None,
    preflight: bool = False,
) -> dict[str, str]:
    """The CORS headers to add to an answer: none unless `origin` is allowed and the route
    is a read (has GET). A preflight also names the methods and the headers it may send."""
    if origin is None or origin not in allowed or "GET" not in route_methods:
        return {}
    headers = {"Access-Control-Allow-Origin": origin, "Vary": "Origin"}
    if preflight:
        headers["Access-Control-Allow-Methods"] = READ_METHODS
        headers["Access-Control-Max-Age"] = str(PREFLIGHT_MAX_AGE_S)
        if preflight_headers:
            # Read routes take no credentials, so whatever headers the page wants may come.
            headers["Access-Control-Allow-Headers"] = preflight_headers
    return headers


def websocket_origin_allowed(origin: str | None, allowed: Collection[str], *, host: str) -> bool:
    """A handshake without Origin comes from no browser (a server, a script) and may connect; a
    browser's must be one of `allowed` or a page of this very host (the debug page). The host
    alone is compared, not the scheme: behind a TLS proxy the page is https, the hop to us ws."""
    if origin is None:
        return True
    origin = origin.rstrip("/")
    return origin in allowed or urlsplit(origin).netloc.lower() == host.lower()
