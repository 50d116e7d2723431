"""Hypothesis fuzzes both ingest endpoints of the served API: whatever the body, the answer is a
2xx or a 4xx, never a 5xx; a 4xx stores nothing, and a 200 stores exactly what it reports.

One service per test, on the real clock against a fresh embedded Postgres (database work runs
in a worker thread, which MockClock would jump over). Hypothesis runs its examples in a worker
thread too — sync httpx to the loopback server, psycopg to count rows — while the service runs
in the test's nursery; both tables are emptied before each example, so "rows added" is simply
the row count after the request.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import psycopg
import pytest
import trio
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st

from tests.service_harness import INGEST_ONLY, Stack, start_stack, wait_until
from volspike_oi.store.database import PostgresStore
from volspike_oi.views import iso

API_KEY = "fuzz-key"
HEADERS = {"X-API-Key": API_KEY, "Content-Type": "application/json"}
QUIET = {**INGEST_ONLY, "VOLSPIKE_API_KEY": API_KEY}
"""No poller and no alert evaluator: only the fuzzed requests write rows."""
INGEST = "/api/market/open-interest/ingest"
ALERT_INGEST = "/api/open-interest-alerts/ingest"
TABLES = ("open_interest_snapshots", "open_interest_alerts")
FUZZ = settings(
    max_examples=60,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)

# -- strategies -------------------------------------------------------------------------------

offsets = st.integers(min_value=-(24 * 60 - 1), max_value=24 * 60 - 1).map(
    lambda m: dt.timezone(dt.timedelta(minutes=m))
)
iso_times = st.one_of(
    st.datetimes(timezones=st.none() | offsets).map(dt.datetime.isoformat),
    st.datetimes().map(lambda t: t.isoformat() + "Z"),
)
numeric_strings = st.one_of(
    st.integers().map(str),
    st.floats().map(repr),
    st.decimals(allow_nan=True, allow_infinity=True).map(str),
    st.sampled_from(["1e30", "1e999999", "-1e-999999", "0.1e-40", "1_000", " 5 ", "0x10", "٣"]),
)
edge_values: st.SearchStrategy[Any] = st.sampled_from(
    [
        0,
        -1,
        0.0,
        -0.0,
        1e300,
        -1e300,
        5e-324,
        10**30,
        2**63,
        "",
        " ",
        "\x00",
        "\ud800",
        "BTCUSDT",
        "btcusdt",
        "0001-01-01T00:00:00+14:00",
        "9999-12-31T23:59:59-12:00",
        "2026-10-07T08:00:00Z",
        True,
        None,
        [],
        {},
    ]
)
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()  # NaN and ±Infinity included: json.dumps writes them as bare words
    | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=12,
)
field_values = st.one_of(json_values, numeric_strings, edge_values, iso_times)


def to_body(value: Any) -> bytes:
    return json.dumps(value).encode("utf-8", "surrogatepass")


def raw_bodies() -> st.SearchStrategy[bytes]:
    """Anything at all: bytes, JSON values, and JSON truncated mid-way (as one branch of a
    `one_of`, so that near-valid payloads get half of the examples)."""
    return st.one_of(
        st.binary(max_size=200),
        json_values.map(to_body),
        json_values.map(lambda v: to_body(v)[:-1]),
    ).map(bytes)


@st.composite
def mutated(draw: st.DrawFn, base: dict[str, Any], item_keys: list[str]) -> bytes:
    """`base` with a few fields dropped, replaced by random JSON or added."""
    body = json.loads(json.dumps(base))
    for _ in range(draw(st.integers(min_value=0, max_value=3))):
        items = body.get("data") if isinstance(body, dict) else None
        targets: list[Any] = [body]
        if isinstance(items, list):
            targets += [item for item in items if isinstance(item, dict)]
        target = draw(st.sampled_from(targets))
        key = draw(st.sampled_from([*sorted(target), *item_keys, "source"]) | st.text(max_size=8))
        if key in target and draw(st.booleans()):
            del target[key]
        elif key == "data" and draw(st.booleans()):
            target[key] = draw(st.lists(field_values, max_size=3))
        else:
            target[key] = draw(field_values)
    return to_body(body)


def oi_payload(symbols: list[str], at: str) -> dict[str, Any]:
    """Seed 000's legacy snapshot body (one item realtime, as a realtime batch may mark it)."""
    return {
        "data": [
            {
                "symbol": s,
                "openInterest": 1000.5 + i,
                "openInterestUsd": (1000.5 + i) * 2.5,
                "markPrice": 2.5,
                **({"source": "realtime"} if i == 1 else {}),
            }
            for i, s in enumerate(symbols)
        ],
        "timestamp": at,
        "totalSymbols": len(symbols),
    }


def alert_payload(at: str) -> dict[str, Any]:
    """Seed 001 §5.3's alert body."""
    return {
        "symbol": "BTCUSDT",
        "direction": "UP",
        "baseline": 150000.0,
        "current": 165000.0,
        "pctChange": 0.1,
        "absChange": 15000.0,
        "timestamp": at,
        "source": "oi_realtime_poller",
    }


# -- the property -----------------------------------------------------------------------------


class Target:
    """The served API and the database behind it, for calls from a worker thread."""

    def __init__(self, stack: Stack, uri: str) -> None:
        self.stack = stack
        self.http = httpx.Client(base_url=stack.service.http_binds[0], timeout=30)
        self.db = psycopg.connect(uri, autocommit=True)

    def close(self) -> None:
        self.http.close()
        self.db.close()

    def rows(self) -> dict[str, int]:
        out = {}
        for table in TABLES:
            row = self.db.execute(f"SELECT count(*) FROM {table}").fetchone()
            assert row is not None
            out[table] = int(row[0])
        return out

    def held(self) -> tuple[dict[str, Any], dict[str, Any], int]:
        web = self.stack.service.web
        return dict(web.snapshot), dict(web.realtime), len(self.stack.service.web.recent_alerts)

    def check(self, path: str, body: bytes, table: str) -> None:
        self.db.execute(f"TRUNCATE {', '.join(TABLES)}")
        before = self.held()
        answer = self.http.post(path, content=body, headers=HEADERS)
        event(f"HTTP {answer.status_code}")
        assert answer.status_code < 500, (answer.status_code, answer.text, body)
        rows = self.rows()
        if answer.status_code == 200:
            stored = answer.json()["stored"]
            assert rows == {t: stored if t == table else 0 for t in TABLES}, (answer.json(), body)
        else:
            assert 400 <= answer.status_code < 500, (answer.status_code, body)
            assert answer.json()["error"]
            assert rows == dict.fromkeys(TABLES, 0), (answer.json(), body)
            assert self.held() == before, body


@pytest.fixture
async def target(pg_uri: str, pg_store: PostgresStore) -> AsyncIterator[Target]:
    """The stored service with its API up and the tracked universe known."""
    async with trio.open_nursery() as nursery:
        stack = await start_stack(nursery, env=QUIET, store=pg_store)
        await wait_until(lambda: stack.service.status.universe is not None, 30)
        target = Target(stack, pg_uri)
        try:
            yield target
        finally:
            target.close()
            nursery.cancel_scope.cancel()


async def test_oi_ingest_never_answers_5xx_and_stores_all_or_nothing(target: Target):
    universe = target.stack.service.status.universe
    assert universe is not None
    base = oi_payload(sorted(universe.tracked)[:3], iso(target.stack.service.clock.now()))

    def run() -> None:
        item_keys = ["symbol", "openInterest", "openInterestUsd", "markPrice"]
        item = base["data"][0]
        nasty = [
            {**base, "data": [{**item, "openInterest": 1e300, "openInterestUsd": None}]},
            {**base, "data": [{**item, "openInterest": "1e999999"}]},
            {**base, "data": [{**item, "markPrice": "1e-999999", "openInterestUsd": None}]},
            {**base, "timestamp": "0001-01-01T00:00:00+14:00"},
            {**base, "timestamp": "9999-12-31T23:59:59-12:00"},
            {**base, "data": [{**item, "symbol": "\x00"}]},
            {**base, "source": []},
            {**base, "data": [{**item, "source": {}}]},
        ]

        @FUZZ
        @given(body=st.one_of(mutated(base, item_keys), raw_bodies()))
        @example(body=to_body(base))
        @example(body=b"[" * 100_000)
        def check(body: bytes) -> None:
            target.check(INGEST, body, "open_interest_snapshots")

        for payload in nasty:
            check = example(body=to_body(payload))(check)
        check()

    await trio.to_thread.run_sync(run)


async def test_alert_ingest_never_answers_5xx_and_stores_all_or_nothing(target: Target):
    base = alert_payload(iso(target.stack.service.clock.now()))

    def run() -> None:
        item_keys = list(base)
        nasty = [
            {**base, "symbol": "\x00"},
            {**base, "symbol": "\ud800"},
            {**base, "source": "\x00"},
            {**base, "baseline": "1e999"},
            {**base, "current": "1e999999"},
            {**base, "timestamp": "0001-01-01T00:00:00+14:00"},
            {**base, "timestamp": "9999-12-31T23:59:59-12:00"},
        ]

        @FUZZ
        @given(body=st.one_of(mutated(base, item_keys), raw_bodies()))
        @example(body=to_body(base))
        @example(body=b"{" * 100_000)
        def check(body: bytes) -> None:
            target.check(ALERT_INGEST, body, "open_interest_alerts")

        for payload in nasty:
            check = example(body=to_body(payload))(check)
        check()

    await trio.to_thread.run_sync(run)
