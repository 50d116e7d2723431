"""A symbol nobody knows is a 404 naming it on `/samples` and `/latest?symbol=`; a known one
(tracked now, or with readings in memory or in the store) is a 200 even with nothing to show, so
a typo never looks like "no data yet". In memory through quart's test client; the store case
runs on the real embedded Postgres (real clock)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any, cast

import pytest

from tests.conftest import START_MS
from tests.web.conftest import make_service, unfed_app
from volspike_oi.clock import WallClock
from volspike_oi.history import OiHistory
from volspike_oi.messages import OiSample, UniverseUpdate
from volspike_oi.service import Service
from volspike_oi.store.database import PostgresStore
from volspike_oi.store.protocol import WriteBatch
from volspike_oi.universe import Thresholds

LATEST = "/api/market/open-interest/latest"
SAMPLES = "/api/market/open-interest/samples"
TRACKED = frozenset({"BTCUSDT", "ETHUSDT"})


def tracked_service() -> Service:
    service = make_service(WallClock.starting_now(START_MS / 1000))
    service.status.universe = UniverseUpdate(
        tracked=TRACKED,
        liquid=(),
        entered=frozenset(),
        exited=frozenset(),
        thresholds=Thresholds(4e6, 2e6),
        classified_at=service.clock.now(),
    )
    return service


def reading(symbol: str, at: float, source: Any = "realtime") -> OiSample:
    return OiSample(
        symbol, Decimal(1000), int(at * 1000), at, Decimal("2.5"), Decimal(2500), source
    )


async def get(service: Service, path: str, store: PostgresStore | None = None) -> tuple[int, Any]:
    r = await unfed_app(service, store=store).test_client().get(path)
    return r.status_code, await r.get_json()


async def test_an_unknown_symbol_is_a_404_naming_it_on_samples_and_latest():
    service = tracked_service()
    for path in (SAMPLES + "?symbol=BTCUSTD", LATEST + "?symbol=btcustd"):
        status, body = await get(service, path)
        assert status == 404, path
        assert body["field"] == "symbol"
        assert "BTCUSTD" in body["error"]
        assert "unknown symbol" in body["error"]


async def test_a_tracked_symbol_without_readings_is_a_200_with_nothing():
    service = tracked_service()
    status, samples = await get(service, SAMPLES + "?symbol=ETHUSDT")
    assert (status, samples) == (200, {"symbol": "ETHUSDT", "count": 0, "samples": []})
    status, latest = await get(service, LATEST + "?symbol=ETHUSDT")
    assert status == 200
    assert (latest["count"], latest["data"]) == (0, [])


async def test_latest_with_a_symbol_gives_that_symbols_fresh_reading_only():
    service = tracked_service()
    now = service.clock.now()
    service.web.record(reading("BTCUSDT", now - 3))
    service.web.record(reading("ETHUSDT", now - 1))
    status, body = await get(service, LATEST + "?symbol=btcusdt")
    assert status == 200
    assert body["count"] == 1
    [row] = body["data"]
    assert (row["symbol"], row["source"]) == ("BTCUSDT", "realtime")
    assert row["ageSeconds"] == pytest.approx(3.0, abs=0.5)
    _, everything = await get(service, LATEST)
    assert everything["count"] == 2  # without ?symbol= nothing changed


async def test_a_symbol_known_from_readings_alone_is_not_a_404():
    service = tracked_service()
    now = service.clock.now()
    # Delisted since: no longer tracked, but posted (ingest) and in the ring buffers.
    service.web.record(reading("OLDUSDT", now - 3600, source="snapshot"))
    history = service.alerts.histories["GONEUSDT"] = OiHistory(10)
    history.append(now - 7200, 5.0)
    for path in (
        LATEST + "?symbol=OLDUSDT",
        SAMPLES + "?symbol=OLDUSDT",
        SAMPLES + "?symbol=GONEUSDT",
        LATEST + "?symbol=GONEUSDT",
    ):
        status, _ = await get(service, path)
        assert status == 200, path


async def test_latest_refuses_a_malformed_or_empty_symbol_with_400():
    for query in ("?symbol=BTC%20USDT", "?symbol="):
        status, body = await get(tracked_service(), LATEST + query)
        assert (status, body["field"]) == (400, "symbol"), query


async def test_a_symbol_only_in_the_store_is_known_and_one_never_stored_is_not(
    pg_store: PostgresStore,
):
    service = tracked_service()
    stored_at = service.clock.now() - 86_400
    await pg_store.write(WriteBatch(samples=[reading("DELISTEDUSDT", stored_at, "snapshot")]))
    since = f"&since={int(service.clock.now() * 1000)}"  # after its only reading
    for path in (SAMPLES + "?symbol=DELISTEDUSDT" + since, LATEST + "?symbol=DELISTEDUSDT"):
        status, body = await get(service, path, pg_store)
        assert status == 200, (path, body)
        assert body["count"] == 0
    status, body = await get(service, SAMPLES + "?symbol=NEVERUSDT", pg_store)
    assert (status, body["field"]) == (404, "symbol")


class DownStore:
    """A store whose every read fails, as a database that is down does."""

    async def write(self, batch: object) -> int:
        raise OSError("connection refused")

    def __getattr__(self, name: str) -> object:
        async def fail(*_: object, **__: object) -> object:
            raise OSError("connection refused")

        return fail


@pytest.mark.parametrize(
    "path", ["/api/market/open-interest/samples?symbol=BTCUSDT", "/api/open-interest-alerts"]
)
async def test_a_read_that_needs_a_database_that_is_down_answers_503_with_the_reason(path: str):
    service = make_service(WallClock.starting_now(START_MS / 1000))
    app = unfed_app(service, store=cast(Any, DownStore()))
    response = await app.test_client().get(path)
    body = await response.get_json()
    assert response.status_code == 503
    assert "database unavailable" in body["error"]
    assert "connection refused" in body["error"]
