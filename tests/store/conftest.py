"""Real Postgres for storage tests: one embedded server per test session, a fresh database
per test. These tests run on the real clock (MockClock would jump while a query runs in its
worker thread, trio-stack-facts §2e)."""

from __future__ import annotations

import itertools
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from volspike_oi.store.server import EmbeddedPostgres

_counter = itertools.count()


@pytest.fixture(scope="session")
def pg_server() -> Iterator[EmbeddedPostgres]:
    # Its own directory, not pytest's tmp_path: pytest prunes old `pytest-N` directories when
    # another session starts, which would pull the data directory from under a running server.
    # Short, too: the server's unix socket lives in its data directory (≤ 107 bytes).
    base = tempfile.mkdtemp(prefix="volspike-pg-")
    server = EmbeddedPostgres(base)
    server.start()
    try:
        yield server
    finally:
        server.stop()
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="session")
def pg_admin_uri(pg_server: EmbeddedPostgres) -> str:
    return pg_server.uri


@pytest.fixture
def pg_uri(pg_admin_uri: str) -> Iterator[str]:
    """A new, empty database for this test."""
    name = f"t{next(_counter)}"
    with psycopg.connect(pg_admin_uri, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    yield pg_admin_uri.replace("/postgres?", f"/{name}?")
    with psycopg.connect(pg_admin_uri, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def data_dir_of(server: EmbeddedPostgres) -> Path:
    return server.pgdata
