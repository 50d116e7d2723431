"""Schema migrations, daily partitions and retention, on a real Postgres (a fresh database per
test, real clock). The `db` commands are run as a user runs them: a process, DATABASE_URL set."""

from __future__ import annotations

import datetime as dt
import os
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from decimal import Decimal

import psycopg
import pytest

from volspike_oi.messages import OiSample
from volspike_oi.store.database import connect, write_batch
from volspike_oi.store.protocol import WriteBatch
from volspike_oi.store.schema import (
    SCHEMA_FILE,
    drop_partitions_before,
    existing_partitions,
    migrate,
    partition_name,
)

DAY = dt.date(2026, 10, 7)
MIDNIGHT = dt.datetime.combine(DAY + dt.timedelta(days=1), dt.time(), tzinfo=dt.UTC)


@pytest.fixture
def conn(pg_uri: str) -> Iterator[psycopg.Connection]:
    """A connection to an empty database (no schema yet)."""
    with connect(pg_uri) as c:
        yield c


@pytest.fixture
def db(conn: psycopg.Connection) -> psycopg.Connection:
    """A connection to a migrated database."""
    migrate(conn)
    return conn


def sample_at(at: dt.datetime, symbol: str = "BTCUSDT") -> OiSample:
    return OiSample(
        symbol=symbol,
        contracts=Decimal("95744.938"),
        exchange_time_ms=int(at.timestamp() * 1000),
        received_at=at.timestamp(),
        mark_price=Decimal("64210.5"),
        usd=Decimal("6147826476.549"),
        source="realtime",
    )


def tables(conn: psycopg.Connection) -> set[str]:
    rows = conn.execute(
        "SELECT relname FROM pg_class WHERE relnamespace = 'public'::regnamespace "
        "AND relkind IN ('r', 'p')"
    ).fetchall()
    return {name for (name,) in rows}


def catalogue(conn: psycopg.Connection) -> list[tuple[str, str]]:
    """Every relation of the public schema with its kind (tables, partitions, indexes, ...)."""
    rows = conn.execute(
        "SELECT relname, relkind::text FROM pg_class "
        "WHERE relnamespace = 'public'::regnamespace ORDER BY relname"
    ).fetchall()
    return [(name, kind) for name, kind in rows]


def count(conn: psycopg.Connection, table: str) -> int:
    row = conn.execute(f"SELECT count(*) FROM {table}").fetchone()
    assert row is not None
    return int(row[0])


# --- migrations ---------------------------------------------------------------------------


NEWEST = 3
"""schema.sql is version 1; 0002_alert_context.sql adds the alerts' USD context columns;
0003_venues.sql the venue, asset and coin columns and the venue in the natural keys."""


def test_migrate_on_an_empty_database_reaches_the_newest_version(conn: psycopg.Connection) -> None:
    assert migrate(conn) == NEWEST
    assert conn.execute("SELECT version FROM schema_version ORDER BY version").fetchall() == [
        (1,),
        (2,),
        (3,),
    ]


def test_migration_2_adds_the_alert_context_columns_nullable(conn: psycopg.Connection) -> None:
    migrate(conn)
    columns = conn.execute(
        "SELECT column_name, is_nullable FROM information_schema.columns "
        "WHERE table_name = 'open_interest_alerts' AND column_name = ANY(%s)",
        (["baseline_usd", "current_usd", "mark_price_change_pct", "window_minutes"],),
    ).fetchall()
    assert sorted(columns) == [
        ("baseline_usd", "YES"),
        ("current_usd", "YES"),
        ("mark_price_change_pct", "YES"),
        ("window_minutes", "YES"),
    ]


def test_migrate_creates_every_table_of_schema_sql(conn: psycopg.Connection) -> None:
    declared = set(
        re.findall(r"CREATE TABLE IF NOT EXISTS (\w+)", SCHEMA_FILE.read_text(encoding="utf-8"))
    )
    assert "open_interest_snapshots" in declared
    migrate(conn)
    assert declared <= tables(conn)


def test_migrating_again_changes_nothing_and_keeps_the_data(db: psycopg.Connection) -> None:
    write_batch(db, WriteBatch(samples=[sample_at(MIDNIGHT)]))
    before = catalogue(db)
    versions = db.execute("SELECT * FROM schema_version").fetchall()

    assert migrate(db) == NEWEST

    assert catalogue(db) == before
    assert db.execute("SELECT * FROM schema_version").fetchall() == versions
    assert count(db, "open_interest_snapshots") == 1


def test_two_concurrent_migrations_both_succeed(pg_uri: str) -> None:
    start = threading.Barrier(2)
    versions: list[int] = []
    errors: list[BaseException] = []

    def migrate_once() -> None:
        try:
            with connect(pg_uri) as c:
                start.wait(timeout=10)
                versions.append(migrate(c))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=migrate_once) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)

    assert errors == []
    assert versions == [NEWEST, NEWEST]
    with connect(pg_uri) as c:
        assert c.execute("SELECT version FROM schema_version ORDER BY version").fetchall() == [
            (1,),
            (2,),
            (3,),
        ]


# --- partitions ---------------------------------------------------------------------------


def test_a_new_database_has_no_partitions_until_a_batch_needs_one(db: psycopg.Connection) -> None:
    assert existing_partitions(db) == []
    write_batch(db, WriteBatch(samples=[sample_at(MIDNIGHT)]))
    assert existing_partitions(db) == [MIDNIGHT.date()]


def test_samples_either_side_of_utc_midnight_land_in_two_daily_partitions(
    db: psycopg.Connection,
) -> None:
    before = MIDNIGHT - dt.timedelta(milliseconds=100)  # 23:59:59.9
    after = MIDNIGHT + dt.timedelta(milliseconds=100)  # 00:00:00.1
    write_batch(db, WriteBatch(samples=[sample_at(before), sample_at(after)]))

    assert existing_partitions(db) == [DAY, DAY + dt.timedelta(days=1)]
    rows = db.execute(
        "SELECT tableoid::regclass::text, ts FROM open_interest_snapshots ORDER BY ts"
    ).fetchall()
    assert rows == [
        (partition_name(DAY), before),
        (partition_name(DAY + dt.timedelta(days=1)), after),
    ]


def test_one_symbol_within_one_day_is_read_from_that_days_partition_only(
    db: psycopg.Connection,
) -> None:
    days = [MIDNIGHT + dt.timedelta(days=n, hours=12) for n in range(3)]
    write_batch(db, WriteBatch(samples=[sample_at(at) for at in days]))
    since = days[1] - dt.timedelta(hours=1)

    plan = db.execute(
        "EXPLAIN SELECT ts, open_interest FROM open_interest_snapshots "
        f"WHERE symbol = 'BTCUSDT' AND ts >= '{since.isoformat()}' "
        f"AND ts < '{(since + dt.timedelta(hours=2)).isoformat()}'"
    ).fetchall()
    text = "\n".join(line for (line,) in plan)

    assert partition_name(days[1].date()) in text
    assert partition_name(days[0].date()) not in text
    assert partition_name(days[2].date()) not in text


def test_samples_of_one_symbol_since_t_use_the_natural_key_index(
    db: psycopg.Connection,
) -> None:
    write_batch(db, WriteBatch(samples=[sample_at(MIDNIGHT + dt.timedelta(hours=1))]))
    db.execute("SET enable_seqscan = off")  # a handful of rows would be scanned whole otherwise

    plan = db.execute(
        "EXPLAIN SELECT ts, open_interest FROM open_interest_snapshots "
        f"WHERE venue = 'binance' AND symbol = 'BTCUSDT' AND ts >= '{MIDNIGHT.isoformat()}'"
    ).fetchall()
    text = "\n".join(line for (line,) in plan)

    # The unique (venue, symbol, ts, source) key's index, not a scan of the partition.
    assert f"{partition_name(MIDNIGHT.date())}_venue_symbol_ts_source_key" in text


# --- retention ----------------------------------------------------------------------------


def test_drop_partitions_before_drops_older_days_and_keeps_newer_ones_with_their_rows(
    db: psycopg.Connection,
) -> None:
    noons = [MIDNIGHT + dt.timedelta(days=n, hours=12) for n in range(4)]
    write_batch(db, WriteBatch(samples=[sample_at(at) for at in noons]))
    cutoff = noons[2].date()

    dropped = drop_partitions_before(db, cutoff)

    assert dropped == [partition_name(noons[0].date()), partition_name(noons[1].date())]
    assert existing_partitions(db) == [noons[2].date(), noons[3].date()]
    kept = db.execute("SELECT ts FROM open_interest_snapshots ORDER BY ts").fetchall()
    assert kept == [(noons[2],), (noons[3],)]


def test_drop_partitions_before_with_nothing_older_drops_nothing(db: psycopg.Connection) -> None:
    write_batch(db, WriteBatch(samples=[sample_at(MIDNIGHT)]))
    assert drop_partitions_before(db, MIDNIGHT.date()) == []
    assert count(db, "open_interest_snapshots") == 1


# --- the `db` commands --------------------------------------------------------------------


def run_db(pg_uri: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "volspike_oi", "db", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "DATABASE_URL": pg_uri},
        check=False,
    )


def test_db_migrate_prints_the_schema_version_and_exits_0(pg_uri: str) -> None:
    done = run_db(pg_uri, "migrate")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"schema at version {NEWEST}"


def test_db_retention_drops_partitions_older_than_the_days_kept_and_exits_0(pg_uri: str) -> None:
    today = dt.datetime.now(dt.UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    old = today - dt.timedelta(days=5)
    with connect(pg_uri) as c:
        migrate(c)
        write_batch(c, WriteBatch(samples=[sample_at(old), sample_at(today)]))

    done = run_db(pg_uri, "retention", "--days", "3")

    assert done.returncode == 0, done.stderr
    cutoff = today.date() - dt.timedelta(days=3)
    assert done.stdout.strip() == (
        f"dropped 1 partitions before {cutoff}: {partition_name(old.date())}"
    )
    with connect(pg_uri) as c:
        assert existing_partitions(c) == [today.date()]


def test_db_retention_of_0_days_exits_2_with_one_line_naming_days(pg_uri: str) -> None:
    done = run_db(pg_uri, "retention", "--days", "0")
    assert done.returncode == 2
    assert len(done.stderr.strip().splitlines()) == 1
    assert "--days" in done.stderr
