"""Shared fixtures.

Rules for every test here: loopback only and port 0; anything that waits uses trio's clock
(`autojump_clock` makes an hour of simulated time take seconds); no test reaches the internet.
"""

from __future__ import annotations

import itertools
import shutil
import tempfile
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import attrs
import psycopg
import pytest
import trio

from volspike_oi.sim.binance import BinanceSim, Scenario, SimSettings, serve_sim
from volspike_oi.sim.binance.scenario import NO_EVENTS
from volspike_oi.store.database import PostgresStore
from volspike_oi.store.server import EmbeddedPostgres

START_MS = 1_791_360_000_000
"""A fixed simulated epoch (2026-10-07 08:00:00 UTC), on a minute boundary."""

REFERENCE_DIR = Path(__file__).resolve().parent / "fixtures" / "binance"


# -- the order files are handed out in (`make test`: pytest-xdist, two workers, --dist loadfile) --

LONGEST_FIRST = (
    "tests/store/test_pipeline_store.py",  # ~90 s: a 60 s database outage on the real clock
    "tests/test_service_hour.py",  # ~90 s: a simulated hour of 600 perps, CPU-bound
    "tests/test_service_reliability.py",  # ~60 s
    "tests/test_service_feed_faults.py",  # ~30 s
    "tests/test_fanout.py",
    "tests/test_cli.py",
    "tests/web/test_schemathesis.py",
    "tests/web/test_debug_page_browser.py",
    "tests/store/test_down_at_boot.py",
)
"""The slowest test files, slowest first (seconds: each file run alone on a two-core machine).

A worker takes the next file when it is nearly done with its own, so handing out the long ones
first leaves short files to even out the end. xdist's own order (most tests first) hands these
out last instead, and one of them alone then kept a worker busy long after the other was done."""


def pytest_configure(config: pytest.Config) -> None:
    if hasattr(config.option, "loadscopereorder"):  # pytest-xdist present
        config.option.loadscopereorder = False  # keep the order set below


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    rank = {path: k for k, path in enumerate(LONGEST_FIRST)}
    # Stable: the other files keep their order, and each file's tests stay together and in order.
    items.sort(key=lambda item: rank.get(item.nodeid.split("::")[0], len(rank)))


@pytest.fixture
def make_sim() -> Callable[..., BinanceSim]:
    """Build a BinanceSim (inside trio) with test defaults; keyword args override settings."""

    def make(scenario: Scenario = NO_EVENTS, **overrides: Any) -> BinanceSim:
        settings = attrs.evolve(SimSettings(start_ms=START_MS, symbols=60), **overrides)
        return BinanceSim(settings, scenario)

    return make


@pytest.fixture
async def sim_server(
    nursery: trio.Nursery, make_sim: Callable[..., BinanceSim]
) -> tuple[BinanceSim, str]:
    """A simulator served by hypercorn on 127.0.0.1:<free port>: (sim, base URL).

    The server lives in the test's nursery, which pytest-trio cancels when the test ends.
    """
    sim = make_sim()
    binds = await nursery.start(serve_sim, sim, "127.0.0.1", 0)
    return sim, binds[0]


# -- real Postgres (storage tests run on the real clock: MockClock would jump while a query
# -- runs in its worker thread, trio-stack-facts §2e) ---------------------------------------

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
async def pg_store(pg_uri: str) -> AsyncIterator[PostgresStore]:
    """A migrated store on a fresh database (real clock: the test must not ask for autojump)."""
    store = PostgresStore(pg_uri)
    await store.migrate()
    yield store
    await store.aclose()


def count_rows(uri: str, table: str) -> int:
    with psycopg.connect(uri) as conn:
        row = conn.execute(f"SELECT count(*) FROM {table}").fetchone()
    assert row is not None
    return int(row[0])


@pytest.fixture
def pg_uri(pg_admin_uri: str) -> Iterator[str]:
    """A new, empty database for this test."""
    name = f"t{next(_counter)}"
    with psycopg.connect(pg_admin_uri, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    yield pg_admin_uri.replace("/postgres?", f"/{name}?")
    with psycopg.connect(pg_admin_uri, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
