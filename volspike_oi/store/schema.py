"""Schema migrations, daily partitions and retention: plain sync psycopg, run in a thread.

`migrate` applies `schema.sql` (version 1) and then every numbered file in `migrations/`
above the recorded version, each in its own transaction under an advisory lock, so two
processes starting together cannot apply a migration twice.
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import psycopg

SCHEMA_FILE = Path(__file__).resolve().parents[2] / "schema.sql"
MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
MIGRATION_LOCK = 0x766F6C5350494B45
"""pg_advisory_xact_lock key ("volSPIKE") held while migrating."""
PARTITION_PREFIX = "open_interest_snapshots_"
_PARTITION_RE = re.compile(rf"^{PARTITION_PREFIX}(\d{{8}})$")


def numbered_migrations() -> list[tuple[int, Path]]:
    return [(int(p.name[:4]), p) for p in sorted(MIGRATIONS_DIR.glob("[0-9][0-9][0-9][0-9]_*.sql"))]


def current_version(conn: psycopg.Connection) -> int:
    exists = conn.execute("SELECT to_regclass('schema_version') IS NOT NULL").fetchone()
    if not exists or not exists[0]:
        return 0
    row = conn.execute("SELECT coalesce(max(version), 0) FROM schema_version").fetchone()
    return int(row[0]) if row else 0


def migrate(conn: psycopg.Connection) -> int:
    """Bring the database to the newest schema; returns the version it is at."""
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK,))
        conn.execute(SCHEMA_FILE.read_text(encoding="utf-8"))
    for number, path in numbered_migrations():
        with conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK,))
            if number <= current_version(conn):
                continue
            conn.execute(path.read_text(encoding="utf-8"))
            conn.execute(
                "INSERT INTO schema_version (version, description) VALUES (%s, %s)",
                (number, path.stem[5:].replace("_", " ")),
            )
    return current_version(conn)


def partition_name(day: dt.date) -> str:
    return f"{PARTITION_PREFIX}{day:%Y%m%d}"


def ensure_partitions(conn: psycopg.Connection, days: set[dt.date]) -> None:
    """Create the daily partitions of `days` that do not exist yet (UTC day boundaries)."""
    for day in sorted(days):
        start = dt.datetime.combine(day, dt.time(), tzinfo=dt.UTC)
        end = start + dt.timedelta(days=1)
        conn.execute(
            f"CREATE TABLE IF NOT EXISTS {partition_name(day)} PARTITION OF open_interest_snapshots "
            f"FOR VALUES FROM ('{start.isoformat()}') TO ('{end.isoformat()}')"
        )


def existing_partitions(conn: psycopg.Connection) -> list[dt.date]:
    rows = conn.execute(
        "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
        "JOIN pg_class p ON p.oid = i.inhparent WHERE p.relname = 'open_interest_snapshots'"
    ).fetchall()
    days = []
    for (name,) in rows:
        match = _PARTITION_RE.match(name)
        if match:
            days.append(dt.datetime.strptime(match.group(1), "%Y%m%d").date())
    return sorted(days)


def drop_partitions_before(conn: psycopg.Connection, cutoff: dt.date) -> list[str]:
    """Drop whole daily partitions that end on or before `cutoff`; returns their names."""
    dropped = []
    with conn.transaction():
        for day in existing_partitions(conn):
            if day < cutoff:
                name = partition_name(day)
                conn.execute(f"DROP TABLE IF EXISTS {name}")
                dropped.append(name)
    return dropped
