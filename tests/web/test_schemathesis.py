"""The server does exactly what its OpenAPI document says, checked by schemathesis (property-based
requests generated from `/openapi.json`, valid and invalid, with its default checks).

The API runs as it does in production: the HTTP actor on hypercorn over loopback, the real web
feed, a real (embedded) Postgres store, a tracked universe and some history. It runs in a
thread of its own with its own trio loop, so schemathesis' synchronous client can call it.
Examples per operation are bounded (`EXAMPLES`) to keep `make test` short; the whole module
takes about half a minute.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import psycopg
import pytest
import schemathesis
import trio
from hypothesis import HealthCheck, settings
from schemathesis.specs.openapi.checks import positive_data_acceptance

from tests.conftest import START_MS
from tests.web.conftest import API_KEY, make_service, start_feed, web_handle
from volspike_oi.actors import http_server
from volspike_oi.clock import WallClock
from volspike_oi.history import OiHistory
from volspike_oi.messages import LiquidMember, OiSample, UniverseUpdate
from volspike_oi.store.database import PostgresStore
from volspike_oi.store.protocol import WriteBatch
from volspike_oi.universe import Thresholds
from volspike_oi.web.openapi import SPEC

EXAMPLES = 60
"""Per operation and generation mode: ~30 s for the whole API here."""
NOW = START_MS / 1000
SYMBOLS = ("BTCUSDT", "ETHUSDT", "1000PEPEUSDT", "币安人生USDT")
"""Binance lists symbols in Chinese characters too: they are symbols like any other."""

schema = schemathesis.openapi.from_dict(SPEC)


def sample(symbol: str, at: float, contracts: str = "1234.5") -> OiSample:
    return OiSample(
        symbol=symbol,
        contracts=Decimal(contracts),
        exchange_time_ms=round(at * 1000),
        received_at=at,
        mark_price=Decimal("2.5"),
        usd=Decimal(contracts) * Decimal("2.5"),
        source="realtime",
    )


class ApiInThread:
    """The API on 127.0.0.1:<free port>, served by its own trio loop in a thread."""

    def __init__(self, store_uri: str) -> None:
        self.store_uri = store_uri
        self.url = ""
        self._ready = threading.Event()
        self._failed: BaseException | None = None
        self._stop: tuple[trio.lowlevel.TrioToken, trio.CancelScope] | None = None
        self._thread = threading.Thread(target=self._main, name="api", daemon=True)

    def __enter__(self) -> ApiInThread:
        self._thread.start()
        if not self._ready.wait(30) or self._failed is not None:
            raise RuntimeError(f"the API did not start: {self._failed!r}")
        return self

    def __exit__(self, *_: object) -> None:
        if self._stop is not None:
            token, scope = self._stop
            trio.from_thread.run_sync(scope.cancel, trio_token=token)
        self._thread.join(30)

    def _main(self) -> None:
        try:
            trio.run(self._serve)
        except BaseException as exc:  # reported to the test through __enter__
            self._failed = exc
            self._ready.set()

    async def _serve(self) -> None:
        store = PostgresStore(self.store_uri)
        await store.migrate()
        service = make_service(WallClock.starting_now(NOW + 60))
        service.status.universe = UniverseUpdate(
            tracked=frozenset(SYMBOLS),
            liquid=tuple(LiquidMember(s, 5e6, NOW - 3600) for s in SYMBOLS[:2]),
            entered=frozenset(),
            exited=frozenset(),
            thresholds=Thresholds(4e6, 2e6),
            classified_at=NOW,
        )
        for symbol in SYMBOLS:
            history = service.alerts.histories[symbol] = OiHistory(100)
            history.append(NOW - 30, 1000.0)
            history.append(NOW, 1100.0)
            service.web.record(sample(symbol, NOW))
        await store.write(WriteBatch(samples=[sample(s, NOW) for s in SYMBOLS]))
        try:
            async with trio.open_nursery() as nursery:
                ingest = await start_feed(nursery, service)
                handle = web_handle(service, ingest, store=store)
                binds: list[str] = await nursery.start(
                    functools.partial(http_server.run, handle, "127.0.0.1", 0, stop=trio.Event())
                )
                self.url = binds[0]
                self._stop = (trio.lowlevel.current_trio_token(), nursery.cancel_scope)
                self._ready.set()
        finally:
            await store.aclose()


@pytest.fixture(scope="module")
def api_url(pg_admin_uri: str) -> Iterator[str]:
    name = "schemathesis"
    with psycopg.connect(pg_admin_uri, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {name}")
    with ApiInThread(pg_admin_uri.replace("/postgres?", f"/{name}?")) as api:
        yield api.url


@schema.parametrize()
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
)
def test_the_server_answers_what_its_openapi_document_says(case: Any, api_url: str) -> None:
    # An HTTP client cannot open a WebSocket: `GET /ws` from it is a plain GET, which the
    # server answers 426 as documented; only "valid requests are accepted" cannot apply there.
    excluded = [positive_data_acceptance] if case.operation.path == "/ws" else []
    case.call_and_validate(
        base_url=api_url, headers={"X-API-Key": API_KEY}, timeout=30, excluded_checks=excluded
    )
