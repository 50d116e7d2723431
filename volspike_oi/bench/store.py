"""The store's write path on a fresh embedded PostgreSQL: rows/s of `write_batch` (COPY into a
staging table, then INSERT … ON CONFLICT) against plain pipelined INSERTs of the same rows, and
the bytes each stored sample costs (heap and indexes of every daily partition).
"""

from __future__ import annotations

import random
import tempfile
import time
from collections.abc import Callable, Sequence
from decimal import Decimal

import psycopg
from psycopg.conninfo import make_conninfo

from volspike_oi.bench import print_table
from volspike_oi.messages import OiSample
from volspike_oi.store.database import (
    SAMPLE_COLUMNS,
    connect,
    sample_row,
    write_batch,
)
from volspike_oi.store.protocol import WriteBatch
from volspike_oi.store.schema import ensure_partitions, migrate
from volspike_oi.store.server import EmbeddedPostgres

ROWS = 50_000
BATCH = 5_000
SYMBOLS = 250
"""About the tracked universe: each round is one sample of every symbol."""
ROUND_S = 10.0
START_S = 1_791_360_000.0
"""2026-10-07 08:00:00 UTC: the 200 rounds (33 minutes) fall inside one daily partition."""

PLAIN_INSERT = (
    f"INSERT INTO open_interest_snapshots ({SAMPLE_COLUMNS}) VALUES (%s, %s, %s, %s, %s, %s, %s) "
    "ON CONFLICT (symbol, ts, source) DO NOTHING"
)


def realistic_samples(n: int = ROWS, seed: int = 1) -> list[OiSample]:
    """`n` samples as the poller makes them: Binance-style decimals, microsecond receive times,
    a third of the symbols realtime, now and then no fresh mark price."""
    rng = random.Random(seed)
    letters = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    symbols = sorted(
        {"".join(rng.choices(letters, k=rng.randint(3, 6))) + "USDT" for _ in range(SYMBOLS * 2)}
    )[:SYMBOLS]
    contracts = {s: 10 ** rng.uniform(3, 9) for s in symbols}
    marks = {s: 10 ** rng.uniform(-4, 5) for s in symbols}
    offsets = {s: rng.uniform(0, ROUND_S) for s in symbols}
    out: list[OiSample] = []
    for i in range(n):
        symbol = symbols[i % SYMBOLS]
        received = START_S + (i // SYMBOLS) * ROUND_S + offsets[symbol]
        contracts[symbol] *= 1 + rng.gauss(0, 0.002)
        marks[symbol] *= 1 + rng.gauss(0, 0.001)
        oi = Decimal(f"{contracts[symbol]:.3f}")
        mark = None if rng.random() < 0.02 else Decimal(f"{marks[symbol]:.8g}")
        out.append(
            OiSample(
                symbol=symbol,
                contracts=oi,
                exchange_time_ms=int(received * 1000) - rng.randint(5, 80),
                received_at=received,
                mark_price=mark,
                usd=None if mark is None else oi * mark,
                source="realtime" if i % SYMBOLS < SYMBOLS // 3 else "snapshot",
            )
        )
    return out


def _batches(samples: Sequence[OiSample]) -> list[Sequence[OiSample]]:
    return [samples[i : i + BATCH] for i in range(0, len(samples), BATCH)]


def _with_write_batch(conn: psycopg.Connection, samples: Sequence[OiSample]) -> int:
    return sum(write_batch(conn, WriteBatch(samples=b)) for b in _batches(samples))


def _with_plain_insert(conn: psycopg.Connection, samples: Sequence[OiSample]) -> int:
    for batch in _batches(samples):
        rows = [sample_row(s) for s in batch]
        with conn.transaction(), conn.cursor() as cur:
            ensure_partitions(conn, {row[1].date() for row in rows})
            cur.executemany(PLAIN_INSERT, rows)  # psycopg pipelines executemany
    return len(samples)


def _timed(
    uri: str, write: Callable[[psycopg.Connection, Sequence[OiSample]], int], rows: list[OiSample]
) -> tuple[float, int]:
    with connect(uri) as conn:
        started = time.perf_counter()
        new = write(conn, rows)
        return time.perf_counter() - started, new


def _sizes(uri: str) -> tuple[int, int, int, int]:
    """(rows, partitions, table bytes, index bytes) of open_interest_snapshots."""
    with connect(uri) as conn:
        row = conn.execute(
            "SELECT count(*), coalesce(sum(pg_table_size(i.inhrelid)), 0), "
            "coalesce(sum(pg_indexes_size(i.inhrelid)), 0), "
            "coalesce(sum(pg_total_relation_size(i.inhrelid)), 0) FROM pg_inherits i "
            "WHERE i.inhparent = 'open_interest_snapshots'::regclass"
        ).fetchone()
        stored = conn.execute("SELECT count(*) FROM open_interest_snapshots").fetchone()
    assert row is not None
    assert stored is not None
    partitions, table, index, total = (int(v) for v in row)
    assert total == table + index
    return int(stored[0]), partitions, table, index


def _fresh_database(admin_uri: str, name: str) -> str:
    with psycopg.connect(admin_uri, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    uri = make_conninfo(admin_uri, dbname=name)
    with connect(uri) as conn:
        migrate(conn)
    return uri


def run() -> None:
    samples = realistic_samples()
    with tempfile.TemporaryDirectory(prefix="volspike-bench-") as tmp:
        server = EmbeddedPostgres(tmp)
        admin_uri = server.start()
        try:
            copy_uri = _fresh_database(admin_uri, "bench_copy")
            insert_uri = _fresh_database(admin_uri, "bench_insert")
            copy_s, copy_new = _timed(copy_uri, _with_write_batch, samples)
            retry_s, retry_new = _timed(copy_uri, _with_write_batch, samples)
            insert_s, insert_new = _timed(insert_uri, _with_plain_insert, samples)
            sizes = [("write_batch", *_sizes(copy_uri)), ("plain INSERT", *_sizes(insert_uri))]
        finally:
            server.stop()

    n = len(samples)
    print_table(
        f"Store writes: {n:,} OI samples ({SYMBOLS} symbols) in batches of {BATCH:,}, "
        "fresh embedded PostgreSQL, one connection",
        ["method", "seconds", "rows/s", "new rows"],
        [
            ("write_batch: COPY → stage, INSERT … ON CONFLICT", copy_s, n / copy_s, copy_new),
            ("write_batch again (every row a conflict)", retry_s, n / retry_s, retry_new),
            ("plain INSERT … ON CONFLICT, executemany", insert_s, n / insert_s, insert_new),
        ],
    )
    print_table(
        "Store size: bytes per stored sample (every daily partition of open_interest_snapshots)",
        ["written by", "rows", "partitions", "table B/row", "index B/row", "total B/row"],
        [
            (name, rows, parts, table / rows, index / rows, (table + index) / rows)
            for name, rows, parts, table, index in sizes
        ],
    )
