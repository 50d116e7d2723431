"""Writes and reads of the store on a real Postgres (a fresh migrated database per test, real
clock): exact values, idempotent retries, the liquid universe and its history, alerts, warm-start
reads, and the async face under trio."""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterator
from decimal import Decimal

import attrs
import psycopg
import pytest

from volspike_oi.messages import ALERT_SOURCE, LiquidMember, OiAlert, OiSample, UniverseUpdate
from volspike_oi.store.database import (
    PostgresStore,
    connect,
    last_alerts,
    read_alerts,
    recent_samples,
    sample_row,
    write_batch,
    write_samples,
)
from volspike_oi.store.protocol import WriteBatch
from volspike_oi.store.schema import migrate
from volspike_oi.universe import Thresholds

T0 = 1_791_360_000.0
"""2026-10-07 08:00:00 UTC."""
THRESHOLDS = Thresholds(enter_quote_24h=4_000_000.0, exit_quote_24h=2_000_000.0)


@pytest.fixture
def db(pg_uri: str) -> Iterator[psycopg.Connection]:
    with connect(pg_uri) as conn:
        migrate(conn)
        yield conn


def sample(
    symbol: str = "BTCUSDT",
    at: float = T0,
    contracts: str = "95744.938",
    *,
    mark: str | None = "64210.5",
    usd: str | None = "6147826476.549",
    source: str = "realtime",
    exchange_time_ms: int | None = None,
) -> OiSample:
    return OiSample(
        symbol=symbol,
        contracts=Decimal(contracts),
        exchange_time_ms=int(at * 1000) if exchange_time_ms is None else exchange_time_ms,
        received_at=at,
        mark_price=None if mark is None else Decimal(mark),
        usd=None if usd is None else Decimal(usd),
        source=source,  # type: ignore[arg-type]
    )


def alert(symbol: str = "BTCUSDT", direction: str = "UP", at: float = T0) -> OiAlert:
    return OiAlert(
        symbol=symbol,
        direction=direction,  # type: ignore[arg-type]
        baseline=1000.5,
        current=1031.25,
        pct_change=0.030735,
        abs_change=30.75,
        timestamp=at,
        baseline_samples=60,
        usd_change=1974.375,
    )


def universe(
    at: float,
    liquid: dict[str, tuple[float, float]],
    *,
    entered: frozenset[str] = frozenset(),
    exited: frozenset[str] = frozenset(),
    volumes: dict[str, float] | None = None,
) -> UniverseUpdate:
    """`liquid` maps symbol → (24h quote volume, entered_at)."""
    members = tuple(LiquidMember(s, qv, since) for s, (qv, since) in sorted(liquid.items()))
    return UniverseUpdate(
        tracked=frozenset(liquid) | exited,
        liquid=members,
        entered=entered,
        exited=exited,
        thresholds=THRESHOLDS,
        classified_at=at,
        quote_volume_24h=volumes or {s: qv for s, (qv, _) in liquid.items()},
    )


def utc(epoch_s: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(epoch_s, tz=dt.UTC)


def count(conn: psycopg.Connection, table: str) -> int:
    row = conn.execute(f"SELECT count(*) FROM {table}").fetchone()
    assert row is not None
    return int(row[0])


# --- samples ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "contracts", ["95744.938", "0.00000001", "123456789012.12345678", "1000", "42.10"]
)
def test_contracts_are_stored_exactly_as_binance_sent_them(
    db: psycopg.Connection, contracts: str
) -> None:
    write_batch(db, WriteBatch(samples=[sample(contracts=contracts)]))
    stored = db.execute("SELECT open_interest::text FROM open_interest_snapshots").fetchone()
    assert stored == (contracts,)


@pytest.mark.parametrize(("usd", "plain"), [("1E+3", "1000"), ("1E-11", "0.00000000001")])
def test_a_decimal_in_exponent_notation_is_stored_as_its_plain_value(
    db: psycopg.Connection, usd: str, plain: str
) -> None:
    write_batch(db, WriteBatch(samples=[sample(usd=usd)]))
    stored = db.execute("SELECT open_interest_usd::text FROM open_interest_snapshots").fetchone()
    assert stored == (plain,)


def test_mark_price_and_usd_are_stored_exactly(db: psycopg.Connection) -> None:
    write_batch(db, WriteBatch(samples=[sample(mark="0.00001234", usd="123456789012.12345678")]))
    stored = db.execute(
        "SELECT mark_price::text, open_interest_usd::text FROM open_interest_snapshots"
    ).fetchone()
    assert stored == ("0.00001234", "123456789012.12345678")


def test_a_missing_mark_price_and_usd_are_stored_as_null(db: psycopg.Connection) -> None:
    write_batch(db, WriteBatch(samples=[sample(mark=None, usd=None)]))
    stored = db.execute("SELECT mark_price, open_interest_usd FROM open_interest_snapshots")
    assert stored.fetchone() == (None, None)


def test_received_and_exchange_times_round_trip_to_the_microsecond_in_utc(
    db: psycopg.Connection,
) -> None:
    received = T0 + 0.123456
    write_batch(db, WriteBatch(samples=[sample(at=received, exchange_time_ms=1_791_359_999_987)]))
    db.execute("SET TIME ZONE 'UTC'")
    ts, exchange_time = db.execute(
        "SELECT ts, exchange_time FROM open_interest_snapshots"
    ).fetchone() or (None, None)
    assert ts == dt.datetime(2026, 10, 7, 8, 0, 0, 123456, tzinfo=dt.UTC)
    assert exchange_time == dt.datetime(2026, 10, 7, 7, 59, 59, 987000, tzinfo=dt.UTC)
    assert ts.utcoffset() == dt.timedelta(0)


def test_a_stored_row_keeps_symbol_and_source(db: psycopg.Connection) -> None:
    write_batch(db, WriteBatch(samples=[sample("ETHUSDT", source="snapshot")]))
    stored = db.execute("SELECT symbol, source FROM open_interest_snapshots").fetchone()
    assert stored == ("ETHUSDT", "snapshot")


def test_writing_the_same_batch_twice_stores_each_row_once(db: psycopg.Connection) -> None:
    batch = WriteBatch(samples=[sample(at=T0 + i) for i in range(5)])
    assert write_batch(db, batch) == 5
    assert write_batch(db, batch) == 0
    assert count(db, "open_interest_snapshots") == 5


def test_a_retry_overlapping_a_stored_batch_adds_only_the_new_rows(db: psycopg.Connection) -> None:
    write_batch(db, WriteBatch(samples=[sample(at=T0), sample(at=T0 + 1)]))
    assert write_batch(db, WriteBatch(samples=[sample(at=T0 + 1), sample(at=T0 + 2)])) == 1
    assert count(db, "open_interest_snapshots") == 3


def test_the_same_symbol_and_time_from_another_source_is_another_row(
    db: psycopg.Connection,
) -> None:
    batch = WriteBatch(samples=[sample(source="realtime"), sample(source="snapshot")])
    assert write_batch(db, batch) == 2


def test_write_samples_on_an_autocommit_connection_stores_its_rows(
    db: psycopg.Connection,
) -> None:
    # The staging table empties on commit: COPY and INSERT must share one transaction.
    assert write_samples(db, [sample_row(sample())]) == 1
    assert count(db, "open_interest_snapshots") == 1


def test_a_batch_that_fails_stores_nothing_of_it(db: psycopg.Connection) -> None:
    bad = WriteBatch(samples=[sample()], alerts=[alert(direction="SIDEWAYS")])
    with pytest.raises(psycopg.errors.CheckViolation):
        write_batch(db, bad)
    assert count(db, "open_interest_snapshots") == 0
    assert write_batch(db, WriteBatch(samples=[sample()])) == 1


# --- alerts -------------------------------------------------------------------------------


def test_an_alert_is_stored_with_its_values(db: psycopg.Connection) -> None:
    write_batch(db, WriteBatch(alerts=[alert()]))
    stored = db.execute(
        "SELECT symbol, direction, baseline, current, pct_change, abs_change, source, ts, "
        "baseline_samples, usd_change FROM open_interest_alerts"
    ).fetchall()
    assert stored == [
        (
            "BTCUSDT",
            "UP",
            Decimal("1000.5"),
            Decimal("1031.25"),
            Decimal("0.030735"),
            Decimal("30.75"),
            "oi_realtime_poller",
            utc(T0),
            60,
            Decimal("1974.375"),
        )
    ]


def test_an_alert_written_twice_is_stored_once(db: psycopg.Connection) -> None:
    write_batch(db, WriteBatch(alerts=[alert()]))
    write_batch(db, WriteBatch(alerts=[alert()]))
    assert count(db, "open_interest_alerts") == 1


def test_alerts_differing_in_direction_or_time_are_all_stored(db: psycopg.Connection) -> None:
    alerts = [alert(), alert(direction="DOWN"), alert(at=T0 + 60)]
    write_batch(db, WriteBatch(alerts=alerts))
    assert count(db, "open_interest_alerts") == 3


def test_an_alerts_context_is_stored_and_read_back(db: psycopg.Connection) -> None:
    full = attrs.evolve(
        alert(),
        baseline_usd=64_240_600.25,
        current_usd=66_214_231.5,
        mark_price_change_pct=0.0125,
        window_minutes=60.0,
    )
    write_batch(db, WriteBatch(alerts=[full]))
    (view,) = read_alerts(db, None, 10)
    assert (view.baseline_usd, view.current_usd) == (64_240_600.25, 66_214_231.5)
    assert (view.mark_price_change_pct, view.window_minutes) == (0.0125, 60.0)


def test_an_alert_without_context_reads_back_null_never_zero(db: psycopg.Connection) -> None:
    write_batch(db, WriteBatch(alerts=[OiAlert("BTCUSDT", "DOWN", 10, 9, -0.1, -1, T0, 3)]))
    (view,) = read_alerts(db, None, 10)
    assert (view.baseline_usd, view.current_usd, view.mark_price_change_pct) == (None,) * 3
    assert view.window_minutes is None


def gate_key(a: OiAlert) -> tuple[str, str, float, float, float]:
    """What the alert gate is restored from."""
    return a.symbol, a.direction, a.timestamp, a.current, a.baseline


def test_last_alerts_gives_the_newest_per_symbol_and_direction_of_one_source(
    db: psycopg.Connection,
) -> None:
    older, newer = alert(at=T0), alert(at=T0 + 600)
    down = alert(direction="DOWN", at=T0 + 60)
    eth = alert("ETHUSDT", at=T0 + 5)
    ingested = attrs.evolve(alert("SOLUSDT", at=T0 + 5), source="external")
    before = alert("XRPUSDT", at=T0 - 1)
    write_batch(db, WriteBatch(alerts=[older, newer, down, eth, ingested, before]))
    assert [gate_key(a) for a in last_alerts(db, T0, ALERT_SOURCE)] == [
        gate_key(down),
        gate_key(newer),
        gate_key(eth),
    ]


def test_an_alert_without_a_usd_change_stores_null(db: psycopg.Connection) -> None:
    write_batch(db, WriteBatch(alerts=[OiAlert("BTCUSDT", "DOWN", 10, 9, -0.1, -1, T0, 3)]))
    stored = db.execute("SELECT usd_change FROM open_interest_alerts").fetchone()
    assert stored == (None,)


# --- the liquid universe ------------------------------------------------------------------


def liquid_rows(conn: psycopg.Connection) -> list[tuple[object, ...]]:
    return conn.execute(
        "SELECT symbol, quote_volume_24h, entered_at, last_seen_at "
        "FROM open_interest_liquid_symbols ORDER BY symbol"
    ).fetchall()


def event_rows(conn: psycopg.Connection) -> list[tuple[object, ...]]:
    return conn.execute(
        "SELECT symbol, event, quote_volume_24h, enter_threshold, exit_threshold, ts "
        "FROM open_interest_universe_events ORDER BY id"
    ).fetchall()


def test_liquid_members_are_stored_with_volume_entry_and_last_seen_times(
    db: psycopg.Connection,
) -> None:
    first = universe(T0, {"BTCUSDT": (9e9, T0)}, entered=frozenset({"BTCUSDT"}))
    write_batch(db, WriteBatch(universes=[first]))
    assert liquid_rows(db) == [("BTCUSDT", Decimal("9000000000"), utc(T0), utc(T0))]


def test_a_later_update_keeps_entered_at_and_refreshes_volume_and_last_seen(
    db: psycopg.Connection,
) -> None:
    write_batch(db, WriteBatch(universes=[universe(T0, {"BTCUSDT": (9e9, T0)})]))
    later = universe(T0 + 300, {"BTCUSDT": (8.5e9, T0 + 300)})
    write_batch(db, WriteBatch(universes=[later]))
    assert liquid_rows(db) == [("BTCUSDT", Decimal("8500000000"), utc(T0), utc(T0 + 300))]


def test_an_exited_symbol_leaves_the_liquid_table(db: psycopg.Connection) -> None:
    both = {"BTCUSDT": (9e9, T0), "DOGEUSDT": (5e6, T0)}
    write_batch(db, WriteBatch(universes=[universe(T0, both)]))
    after = universe(
        T0 + 300,
        {"BTCUSDT": (9e9, T0)},
        exited=frozenset({"DOGEUSDT"}),
        volumes={"BTCUSDT": 9e9, "DOGEUSDT": 1.5e6},
    )
    write_batch(db, WriteBatch(universes=[after]))
    assert [row[0] for row in liquid_rows(db)] == ["BTCUSDT"]


def test_an_empty_liquid_set_empties_the_liquid_table(db: psycopg.Connection) -> None:
    write_batch(db, WriteBatch(universes=[universe(T0, {"BTCUSDT": (9e9, T0)})]))
    empty = universe(T0 + 300, {}, exited=frozenset({"BTCUSDT"}), volumes={"BTCUSDT": 1e6})
    write_batch(db, WriteBatch(universes=[empty]))
    assert liquid_rows(db) == []


def test_enter_and_exit_events_record_the_quote_volume_that_caused_them(
    db: psycopg.Connection,
) -> None:
    entering = universe(T0, {"DOGEUSDT": (4.5e6, T0)}, entered=frozenset({"DOGEUSDT"}))
    leaving = universe(
        T0 + 300, {}, exited=frozenset({"DOGEUSDT"}), volumes={"DOGEUSDT": 1_999_999.5}
    )
    write_batch(db, WriteBatch(universes=[entering, leaving]))
    assert event_rows(db) == [
        ("DOGEUSDT", "enter", Decimal("4500000"), Decimal("4000000"), Decimal("2000000"), utc(T0)),
        (
            "DOGEUSDT",
            "exit",
            Decimal("1999999.5"),
            Decimal("4000000"),
            Decimal("2000000"),
            utc(T0 + 300),
        ),
    ]


def test_an_update_without_changes_appends_no_event(db: psycopg.Connection) -> None:
    write_batch(db, WriteBatch(universes=[universe(T0, {"BTCUSDT": (9e9, T0)})]))
    assert event_rows(db) == []


def test_a_universe_update_written_twice_appends_its_events_once(db: psycopg.Connection) -> None:
    update = universe(T0, {"BTCUSDT": (9e9, T0)}, entered=frozenset({"BTCUSDT"}))
    write_batch(db, WriteBatch(universes=[update]))
    write_batch(db, WriteBatch(universes=[update]))
    assert len(event_rows(db)) == 1


# --- warm-start reads ---------------------------------------------------------------------


def test_recent_samples_gives_epoch_seconds_and_contracts_per_symbol_oldest_first(
    db: psycopg.Connection,
) -> None:
    samples = [
        sample("ETHUSDT", T0 + 10, "2000.5"),
        sample("BTCUSDT", T0 + 5, "101.25"),
        sample("BTCUSDT", T0, "100"),
    ]
    write_batch(db, WriteBatch(samples=samples))
    assert recent_samples(db, T0) == {
        "BTCUSDT": [(T0, 100.0, 64210.5), (T0 + 5, 101.25, 64210.5)],
        "ETHUSDT": [(T0 + 10, 2000.5, 64210.5)],
    }


def test_recent_samples_give_nan_for_a_sample_without_a_mark_price(db: psycopg.Connection) -> None:
    write_batch(db, WriteBatch(samples=[sample(mark=None, usd=None)]))
    ((t, contracts, mark),) = recent_samples(db, T0)["BTCUSDT"]
    assert (t, contracts) == (T0, 95744.938)
    assert math.isnan(mark)


def test_recent_samples_leaves_out_samples_before_since(db: psycopg.Connection) -> None:
    write_batch(db, WriteBatch(samples=[sample(at=T0 - 0.5), sample(at=T0), sample(at=T0 + 1)]))
    assert recent_samples(db, T0) == {
        "BTCUSDT": [(T0, 95744.938, 64210.5), (T0 + 1, 95744.938, 64210.5)]
    }


def test_recent_samples_of_an_empty_store_is_empty(db: psycopg.Connection) -> None:
    assert recent_samples(db, T0) == {}


# --- the async face -----------------------------------------------------------------------


async def test_postgres_store_migrates_writes_and_reads_back_under_trio(pg_uri: str) -> None:
    store = PostgresStore(pg_uri)
    try:
        assert await store.migrate() == 3
        batch = WriteBatch(samples=[sample(at=T0), sample(at=T0 + 5)], alerts=[alert()])
        assert await store.write(batch) == 2
        assert await store.write(batch) == 0
        assert await store.recent_samples(T0) == {
            "BTCUSDT": [(T0, 95744.938, 64210.5), (T0 + 5, 95744.938, 64210.5)]
        }
        assert [gate_key(a) for a in await store.last_alerts(T0, ALERT_SOURCE)] == [
            gate_key(alert())
        ]
    finally:
        await store.aclose()
