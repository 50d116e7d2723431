"""Migration 3 (issue 11): every venue in one table, keyed by venue, with asset and coin.

A real Postgres, a fresh database per test. The migration is applied over a version-2 database
holding Binance rows, as an upgraded droplet would have it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from decimal import Decimal

import psycopg
import pytest

from volspike_oi.messages import OiAlert, OiSample
from volspike_oi.store.database import connect, last_alerts, read_samples, write_batch
from volspike_oi.store.protocol import WriteBatch
from volspike_oi.store.schema import SCHEMA_FILE, migrate, numbered_migrations

AT = dt.datetime(2026, 11, 29, 12, tzinfo=dt.UTC)


@pytest.fixture
def conn(pg_uri: str) -> Iterator[psycopg.Connection]:
    with connect(pg_uri) as c:
        yield c


def reading(venue: str, symbol: str, contracts: str, **kw: object) -> OiSample:
    fields: dict[str, object] = {
        "symbol": symbol,
        "contracts": Decimal(contracts),
        "exchange_time_ms": int(AT.timestamp() * 1000),
        "received_at": AT.timestamp(),
        "mark_price": Decimal("83000"),
        "usd": None,
        "source": "realtime",
        "venue": venue,
    }
    fields.update(kw)
    return OiSample(**fields)  # type: ignore[arg-type]


def test_rows_stored_before_migration_3_become_binance_with_their_values(
    conn: psycopg.Connection,
) -> None:
    conn.execute(SCHEMA_FILE.read_text(encoding="utf-8"))
    path = dict(numbered_migrations())[2]
    conn.execute(path.read_text(encoding="utf-8"))
    conn.execute("INSERT INTO schema_version VALUES (2, 'alert context')")
    conn.execute(
        "CREATE TABLE open_interest_snapshots_20261129 PARTITION OF open_interest_snapshots "
        "FOR VALUES FROM ('2026-11-29T00:00Z') TO ('2026-11-30T00:00Z')"
    )
    conn.execute(
        "INSERT INTO open_interest_snapshots (symbol, ts, open_interest, source) "
        "VALUES ('BTCUSDT', %s, 95744.938, 'realtime')",
        (AT,),
    )

    assert migrate(conn) == 3

    row = conn.execute(
        "SELECT venue, symbol, open_interest, asset, coin FROM open_interest_snapshots"
    ).fetchone()
    assert row == ("binance", "BTCUSDT", Decimal("95744.938"), None, None)
    assert read_samples(conn, "BTCUSDT", None, 10)[0].open_interest == 95744.938


def test_the_same_symbol_at_the_same_time_on_two_venues_is_two_rows_and_a_retry_none(
    conn: psycopg.Connection,
) -> None:
    migrate(conn)
    batch = WriteBatch(
        samples=[
            reading("binance", "BTCUSDT", "95744.938"),
            reading("bybit", "BTCUSDT", "52774.528", asset="BTC", coin=Decimal("52774.528")),
        ]
    )
    assert write_batch(conn, batch) == 2
    assert write_batch(conn, batch) == 0  # a retried batch doubles nothing

    rows = conn.execute(
        "SELECT venue, asset, coin FROM open_interest_snapshots ORDER BY venue"
    ).fetchall()
    assert rows == [
        ("binance", "BTC", Decimal("95744.938")),
        ("bybit", "BTC", Decimal("52774.528")),
    ]
    assert read_samples(conn, "BTCUSDT", None, 10, venue="bybit")[0].coin == 52774.528
    assert read_samples(conn, "BTCUSDT", None, 10)[0].open_interest == 95744.938


def test_a_bundled_binance_symbol_stores_its_asset_and_coin(conn: psycopg.Connection) -> None:
    migrate(conn)
    write_batch(conn, WriteBatch(samples=[reading("binance", "1000PEPEUSDT", "2.5")]))
    assert conn.execute("SELECT asset, coin FROM open_interest_snapshots").fetchone() == (
        "PEPE",
        Decimal("2500.0"),
    )


def test_alerts_of_a_venue_and_of_all_venues_are_kept_apart(conn: psycopg.Connection) -> None:
    migrate(conn)
    t = AT.timestamp()
    binance = OiAlert("BTCUSDT", "UP", 100.0, 110.0, 0.1, 10.0, t, 10)
    everywhere = OiAlert("BTC", "UP", 100.0, 106.0, 0.06, 6.0, t, 10, venue="all")
    write_batch(conn, WriteBatch(alerts=[binance, everywhere]))
    write_batch(conn, WriteBatch(alerts=[binance, everywhere]))

    assert [a.symbol for a in last_alerts(conn, t - 60, binance.source)] == ["BTCUSDT"]
    assert [a.symbol for a in last_alerts(conn, t - 60, binance.source, venue="all")] == ["BTC"]
    assert conn.execute("SELECT count(*) FROM open_interest_alerts").fetchone() == (2,)
