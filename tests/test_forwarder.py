"""The forwarder against a fake VolSpike backend (an `httpx.MockTransport`): one whole snapshot
per flush, payload shapes, retries across an outage, refusals, independent targets, a pipeline
that never waits, the shutdown flush, and an API key that never reaches a log. Everything runs
under `autojump_clock`; the fake backend answers on trio's clock, so a hanging backend is a
handler that sleeps forever. Like seed 003's backend it replaces its OI cache with each POST and
drops items whose markPrice is not > 0.
"""

from __future__ import annotations

import functools
import itertools
import json
import logging
from collections.abc import AsyncIterator, Callable
from decimal import Decimal
from typing import Any

import attrs
import httpx
import pytest
import trio

from tests.conftest import START_MS
from tests.service_harness import SEED_ALERT_KEYS, start_stack
from tests.web.conftest import unfed_app
from volspike_oi import metrics as m
from volspike_oi import service as service_mod
from volspike_oi.actors import forwarder
from volspike_oi.clock import WallClock
from volspike_oi.messages import OiAlert, OiSample, SampleSource
from volspike_oi.metrics import Metrics
from volspike_oi.sim.binance.scenario import BUILTIN_DIR, load_scenario
from volspike_oi.snapshots import CACHE_TTL_S, ForwarderStatus, WebState
from volspike_oi.views import alert_view, frontend_view
from volspike_oi.web.ingest import parse_alert_ingest, parse_oi_ingest
from volspike_oi.wire import to_json

PROD = "http://prod.backend.test"
DEV = "http://dev.backend.test"
KEY = "sk-live-5f1d0c9a7e"
OI_URL = forwarder.OI_PATH
ALERT_URL = forwarder.ALERT_PATH
ITEM_KEYS = {"symbol", "openInterest", "openInterestUsd", "markPrice", "source"}
INTERVAL_S = forwarder.DEFAULT_INTERVAL_S

Answer = Callable[[httpx.Request, Any], int | None]
"""Decides the status for one request (None = hang forever); it may also raise."""


def _ok(_request: httpx.Request, _body: Any) -> int:
    return 200


@attrs.define
class Post:
    at: float
    """trio time the request arrived."""
    host: str
    path: str
    headers: httpx.Headers
    body: Any
    status: int | None = None


@attrs.define
class FakeBackend:
    """Both backends in one handler, told apart by host; records every request."""

    answers: dict[str, Answer] = attrs.Factory(dict)
    posts: list[Post] = attrs.Factory(list)
    echo_key: bool = False
    """Refusals quote the key they were sent, as a careless backend might."""
    cache: dict[str, dict[str, float]] = attrs.Factory(dict)
    """Per host, the OI cache as seed 003 found the backend's: symbol → openInterestUsd,
    replaced whole by each accepted OI POST, items without markPrice > 0 dropped."""

    async def handle(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        post = Post(trio.current_time(), request.url.host, request.url.path, request.headers, body)
        self.posts.append(post)
        answer = self.answers.get(request.url.host, _ok)
        status = answer(request, body)
        if status is None:
            await trio.sleep_forever()
        post.status = status
        if status >= 400 and self.echo_key:
            return httpx.Response(status, text=f"wrong key {request.headers['X-API-Key']}")
        if status >= 400:
            return httpx.Response(status, json={"error": f"refused (HTTP {status})"})
        if request.url.path == OI_URL:
            self.cache[request.url.host] = {
                i["symbol"]: i["openInterestUsd"] for i in body["data"] if (i["markPrice"] or 0) > 0
            }
        return httpx.Response(status, json={"stored": 1})

    def accepted(self, host: str, path: str = OI_URL) -> list[Post]:
        return [p for p in self.posts if p.host == host and p.path == path and p.status == 200]

    def items(self, host: str) -> list[tuple[str, float]]:
        return [
            (i["symbol"], i["openInterest"]) for p in self.accepted(host) for i in p.body["data"]
        ]

    def last_snapshot(self, host: str) -> list[tuple[str, float]]:
        """(symbol, contracts) of the newest accepted OI POST."""
        posts = self.accepted(host)
        return [(i["symbol"], i["openInterest"]) for i in posts[-1].body["data"]] if posts else []


@attrs.define
class Rig:
    backend: FakeBackend
    samples_tx: trio.MemorySendChannel[OiSample]
    alerts_tx: trio.MemorySendChannel[OiAlert]
    status: ForwarderStatus
    metrics: Metrics
    clock: WallClock
    scope: trio.CancelScope = attrs.Factory(trio.CancelScope)
    """Cancelling it stops the forwarder as the service's shutdown does."""
    stopped: trio.Event = attrs.Factory(trio.Event)


@pytest.fixture
def backend() -> FakeBackend:
    return FakeBackend()


@pytest.fixture
async def start_forwarder(
    nursery: trio.Nursery, backend: FakeBackend
) -> AsyncIterator[Callable[..., Any]]:
    """Start the forwarder on the fake backend; keyword args override its defaults."""
    rigs: list[Rig] = []
    async with httpx.AsyncClient(transport=httpx.MockTransport(backend.handle)) as http:

        async def start(
            targets: tuple[str, ...] = (PROD,), channel_size: int = 16, **kw: Any
        ) -> Rig:
            samples_tx, samples_rx = trio.open_memory_channel[OiSample](channel_size)
            alerts_tx, alerts_rx = trio.open_memory_channel[OiAlert](channel_size)
            rig = Rig(
                backend,
                samples_tx,
                alerts_tx,
                ForwarderStatus(),
                Metrics(),
                WallClock(START_MS / 1000, trio.current_time()),
            )

            async def run(task_status: trio.TaskStatus[None]) -> None:
                try:
                    with rig.scope:
                        await forwarder.run(
                            http,
                            list(targets),
                            KEY,
                            samples_rx,
                            alerts_rx,
                            rig.clock,
                            rig.metrics,
                            rig.status,
                            task_status=task_status,
                            **kw,
                        )
                finally:
                    rig.stopped.set()

            await nursery.start(run)
            rigs.append(rig)
            return rig

        yield start
        # Stop the forwarders while the client is open: their shutdown flush still posts.
        for rig in rigs:
            rig.scope.cancel()
            await rig.stopped.wait()


def sample(
    symbol: str,
    contracts: float,
    rig: Rig,
    *,
    mark: str | None = "2.5",
    source: SampleSource = "realtime",
) -> OiSample:
    price = None if mark is None else Decimal(mark)
    oi = Decimal(str(contracts))
    return OiSample(
        symbol,
        oi,
        int(rig.clock.now() * 1000),
        rig.clock.now(),
        price,
        None if price is None else oi * price,
        source,
    )


def alert(symbol: str, rig: Rig) -> OiAlert:
    return OiAlert(symbol, "UP", 150_000.0, 165_000.0, 0.1, 15_000.0, rig.clock.now(), 30, 4.2e4)


async def test_each_flush_posts_one_request_with_the_latest_reading_of_every_symbol(
    start_forwarder, backend, autojump_clock
):
    # Changed by issue 10: one request per flush with every symbol (it was ≤ 100 per request,
    # which a backend replacing its cache on each POST turned into the last chunk only).
    rig = await start_forwarder()
    sent = [sample(f"S{i:03d}USDT", 1000 + i, rig) for i in range(250)]
    for s in sent:
        await rig.samples_tx.send(s)
    sent[0] = sample("S000USDT", 5000, rig)  # a newer reading replaces the older
    await rig.samples_tx.send(sent[0])
    snap = sample("SNAPUSDT", 7, rig, source="snapshot")
    await rig.samples_tx.send(snap)
    await rig.samples_tx.send(sample("NOMARKUSDT", 5, rig, mark=None))
    await rig.samples_tx.send(sample("ZEROMARKUSDT", 5, rig, mark="0"))
    await trio.sleep(INTERVAL_S + 0.1)

    posts = backend.accepted("prod.backend.test")
    assert len(posts) == 1
    post = posts[0]
    assert post.headers["X-API-Key"] == KEY
    assert set(post.body) == {"data", "timestamp", "totalSymbols"}
    assert post.body["totalSymbols"] == len(post.body["data"]) == 251
    for item in post.body["data"]:
        assert set(item) == ITEM_KEYS
        assert all(type(item[k]) is float for k in ("openInterest", "openInterestUsd"))
        assert type(item["markPrice"]) is float
        assert item["markPrice"] > 0
        assert item["openInterestUsd"] > 0
    # The repo's own copy of the backend's ingest validation accepts every item.
    assert parse_oi_ingest(post.body, None).rejected == []
    expected = sorted([(s.symbol, float(s.contracts), s.source) for s in [*sent, snap]])
    assert [(i["symbol"], i["openInterest"], i["source"]) for i in post.body["data"]] == expected
    assert rig.status.skipped_without_price == 2
    target = rig.status.targets[PROD]
    assert (target.posted, target.samples_sent, target.snapshot_symbols) == (1, 251, 251)
    assert target.buffered == 0
    assert rig.metrics.get(m.FORWARD_POSTS) == 1


async def test_every_flush_posts_the_whole_snapshot_again_with_the_newest_readings(
    start_forwarder, backend, autojump_clock
):
    rig = await start_forwarder(interval_s=10.0)
    await trio.sleep(1)  # readings between two flushes, not on them
    for k in range(3):
        for i in range(5):
            await rig.samples_tx.send(sample(f"S{i}USDT", 100 * k + i + 1, rig))
        await trio.sleep(10)
    posts = backend.accepted("prod.backend.test")
    assert [p.at for p in posts] == pytest.approx([10.0, 20.0, 30.0], abs=0.01)
    assert [len(p.body["data"]) for p in posts] == [5, 5, 5]
    assert backend.last_snapshot("prod.backend.test") == [
        (f"S{i}USDT", 201.0 + i) for i in range(5)
    ]


async def test_realtime_wins_over_snapshot_and_readings_past_the_frontend_ttl_drop_out(
    start_forwarder, backend, autojump_clock
):
    rig = await start_forwarder()
    await trio.sleep(1)  # readings between two flushes, not on them
    await rig.samples_tx.send(sample("OLDUSDT", 1, rig, source="snapshot"))
    await trio.sleep(CACHE_TTL_S - 60)
    await rig.samples_tx.send(sample("BTCUSDT", 2, rig, source="snapshot"))
    await rig.samples_tx.send(sample("BTCUSDT", 3, rig, source="realtime"))
    await rig.samples_tx.send(sample("BTCUSDT", 4, rig, source="snapshot"))
    await trio.sleep(INTERVAL_S)
    assert backend.last_snapshot("prod.backend.test") == [("BTCUSDT", 3.0), ("OLDUSDT", 1.0)]
    await trio.sleep(60)
    assert backend.last_snapshot("prod.backend.test") == [("BTCUSDT", 3.0)]


async def test_alerts_are_posted_one_per_request_in_the_seed_shape(
    start_forwarder, backend, autojump_clock
):
    rig = await start_forwarder()
    alerts = [alert(s, rig) for s in ("BTCUSDT", "ETHUSDT", "SOLUSDT")]
    for a in alerts:
        await rig.alerts_tx.send(a)
    await trio.sleep(INTERVAL_S + 0.1)

    posts = backend.accepted("prod.backend.test", ALERT_URL)
    assert [p.body for p in posts] == [to_json(alert_view(a)) for a in alerts]
    for post in posts:
        assert set(post.body) >= SEED_ALERT_KEYS
        assert post.body["source"] == "oi_realtime_poller"
        assert post.headers["X-API-Key"] == KEY
        assert parse_alert_ingest(post.body).symbol == post.body["symbol"]
    assert rig.status.targets[PROD].alerts_sent == 3


async def test_a_minute_of_503_is_retried_with_backoff_then_the_latest_snapshot_arrives(
    start_forwarder, backend, autojump_clock
):
    rig = await start_forwarder()
    t0 = trio.current_time()
    backend.answers["prod.backend.test"] = lambda _r, _b: (
        503 if trio.current_time() < t0 + 60 else 200
    )
    alerts: list[OiAlert] = []
    for k in range(24):  # two minutes of polling, ten symbols every 5 s
        for i in range(10):
            await rig.samples_tx.send(sample(f"S{i}USDT", 100 * k + i, rig))
        if k % 6 == 0:
            alerts.append(alert(f"A{k}USDT", rig))
            await rig.alerts_tx.send(alerts[-1])
        await trio.sleep(5)
    await trio.sleep(60)

    failures = [p.at - t0 for p in backend.posts if p.status == 503]
    gaps = [b - a for a, b in itertools.pairwise(failures)]
    assert 5 <= len(failures) <= 12, failures  # 0.5 s, 1 s, 2 s … 30 s, not every 0.5 s
    assert gaps[0] < 1.01
    assert 8 <= max(gaps) <= forwarder.RETRY_MAX_S
    first_success = min(p.at - t0 for p in backend.posts if p.status == 200)
    assert 60 <= first_success <= 60 + forwarder.RETRY_MAX_S
    # A snapshot is state, not a queue: what arrives is the newest reading of each symbol.
    assert backend.last_snapshot("prod.backend.test") == [
        (f"S{i}USDT", 2300.0 + i) for i in range(10)
    ]
    posted_alerts = [p.body for p in backend.accepted("prod.backend.test", ALERT_URL)]
    assert posted_alerts == [to_json(alert_view(a)) for a in alerts]
    target = rig.status.targets[PROD]
    assert target.failing_since is None
    assert target.last_error == "HTTP 503"
    assert (target.buffered, target.dropped, target.rejected) == (0, 0, 0)
    assert rig.metrics.get(m.FORWARD_FAILURES) == len(failures)


async def test_a_400_is_not_retried_and_the_next_flush_posts_the_snapshot_again(
    start_forwarder, backend, autojump_clock, caplog: pytest.LogCaptureFixture
):
    rig = await start_forwarder()
    t0 = trio.current_time()
    backend.answers["prod.backend.test"] = lambda _r, _b: (
        400 if trio.current_time() < t0 + INTERVAL_S + 1 else 200
    )
    with caplog.at_level(logging.ERROR):
        for i in range(150):
            await rig.samples_tx.send(sample(f"S{i:03d}USDT", i + 1, rig))
        await trio.sleep(2 * INTERVAL_S + 0.1)

    assert [p.status for p in backend.posts] == [400, 200]  # never retried at backoff pace
    assert backend.posts[1].at - backend.posts[0].at == pytest.approx(INTERVAL_S)
    assert len(backend.last_snapshot("prod.backend.test")) == 150
    target = rig.status.targets[PROD]
    assert (target.rejected, target.buffered) == (150, 0)
    assert target.last_error.startswith("HTTP 400")
    assert sum("refused (HTTP 400)" in r.getMessage() for r in caplog.records) == 1


async def test_a_dead_dev_backend_does_not_delay_prod(start_forwarder, backend, autojump_clock):
    rig = await start_forwarder(targets=(PROD, DEV))
    backend.answers["dev.backend.test"] = lambda _r, _b: None  # hangs
    sent_at: dict[tuple[str, float], float] = {}
    for k in range(24):
        for i in range(5):
            s = sample(f"S{i}USDT", 10 * k + i + 1, rig)
            sent_at[(s.symbol, float(s.contracts))] = trio.current_time()
            await rig.samples_tx.send(s)
        await trio.sleep(5)
    await trio.sleep(1)

    first_posted: dict[tuple[str, float], float] = {}
    for p in backend.accepted("prod.backend.test"):
        for i in p.body["data"]:
            first_posted.setdefault((i["symbol"], i["openInterest"]), p.at)
    assert set(first_posted) == set(sent_at)
    assert max(first_posted[k] - sent_at[k] for k in sent_at) <= INTERVAL_S
    assert backend.accepted("dev.backend.test") == []
    dev = rig.status.targets[DEV]
    assert dev.failed >= 2
    assert dev.last_error == f"no answer within {forwarder.POST_TIMEOUT_S:g} s"
    assert dev.buffered == 5  # the snapshot it keeps retrying: one reading per symbol


async def test_the_pipeline_keeps_flowing_while_every_backend_hangs(
    start_forwarder, backend, autojump_clock, caplog: pytest.LogCaptureFixture
):
    rig = await start_forwarder(targets=(PROD, DEV), channel_size=1, max_buffered_alerts=100)
    backend.answers = {
        "prod.backend.test": lambda _r, _b: None,
        "dev.backend.test": lambda _r, _b: None,
    }
    for i in range(10):
        await rig.samples_tx.send(sample(f"S{i}USDT", i, rig))
    await trio.sleep(INTERVAL_S + 1)  # both flushers are now stuck in a request
    assert len(backend.posts) == 2
    with caplog.at_level(logging.WARNING):
        with trio.fail_after(0.001):  # a pipeline that waited on a backend would take seconds
            for i in range(5000):
                await rig.samples_tx.send(sample(f"S{i % 10}USDT", 100 + i, rig))
                if i % 10 == 0:
                    await rig.alerts_tx.send(alert(f"S{i % 10}USDT", rig))
        await trio.sleep(0.1)
    for url in (PROD, DEV):
        target = rig.status.targets[url]
        assert (target.buffered, target.dropped) == (100, 500 - 100)
    full = [r for r in caplog.records if "forward buffer" in r.getMessage()]
    assert len(full) == 2  # once per target, not once per dropped alert


async def test_shutdown_posts_the_latest_snapshot_and_the_waiting_alerts_at_once(
    start_forwarder, backend, autojump_clock
):
    rig = await start_forwarder(interval_s=60.0)
    for i in range(20):
        await rig.samples_tx.send(sample(f"S{i:02d}USDT", i, rig))
    await rig.alerts_tx.send(alert("BTCUSDT", rig))
    await trio.sleep(30)  # half an interval: nothing was due yet
    assert backend.posts == []
    # Still in the channel when the stop comes: taken in the final flush too.
    await rig.samples_tx.send(sample("S00USDT", 99, rig))
    stop_at = trio.current_time()
    rig.scope.cancel()
    await rig.stopped.wait()

    assert trio.current_time() - stop_at <= forwarder.SHUTDOWN_FLUSH_S
    assert [p.path for p in backend.accepted("prod.backend.test", ALERT_URL)] == [ALERT_URL]
    snapshot = backend.last_snapshot("prod.backend.test")
    assert len(snapshot) == 20
    assert ("S00USDT", 99.0) in snapshot
    assert rig.status.targets[PROD].buffered == 0


async def test_the_shutdown_flush_gives_up_on_a_hanging_backend_within_its_bound(
    start_forwarder, backend, autojump_clock, caplog: pytest.LogCaptureFixture
):
    rig = await start_forwarder(interval_s=60.0)
    backend.answers["prod.backend.test"] = lambda _r, _b: None
    await rig.samples_tx.send(sample("BTCUSDT", 1, rig))
    stop_at = trio.current_time()
    with caplog.at_level(logging.ERROR):
        rig.scope.cancel()
        await rig.stopped.wait()
    assert trio.current_time() - stop_at == pytest.approx(forwarder.SHUTDOWN_FLUSH_S)
    assert len(backend.posts) == 1
    assert "final forward flush timed out" in caplog.text


async def test_the_api_key_never_appears_in_logs_or_status(
    start_forwarder, backend, autojump_clock, caplog: pytest.LogCaptureFixture
):
    steps: list[int | Exception | None] = [
        503,
        401,
        None,
        httpx.ConnectError(f"connection refused (X-API-Key: {KEY})"),
    ]

    def answer(_request: httpx.Request, _body: Any) -> int | None:
        step = steps.pop(0) if steps else 200
        if isinstance(step, Exception):
            raise step
        return step

    backend.answers["prod.backend.test"] = answer
    backend.echo_key = True
    with caplog.at_level(logging.DEBUG):
        rig = await start_forwarder()
        for k in range(12):
            await rig.samples_tx.send(sample("BTCUSDT", k, rig))
            await rig.alerts_tx.send(alert("BTCUSDT", rig))
            await trio.sleep(5)
        await trio.sleep(60)
    assert {p.status for p in backend.posts} >= {503, 401, None, 200}
    assert steps == []
    assert all(p.headers["X-API-Key"] == KEY for p in backend.posts)
    assert caplog.records
    assert KEY not in caplog.text
    assert KEY not in repr(rig.status)
    assert "<hidden>" in caplog.text


def _forward_to(backend: FakeBackend, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(
        service_mod,
        "run",
        functools.partial(service_mod.run, forward_transport=httpx.MockTransport(backend.handle)),
    )


async def test_the_service_forwards_one_whole_snapshot_per_flush(
    nursery, autojump_clock, monkeypatch: pytest.MonkeyPatch
):
    backend = FakeBackend()
    _forward_to(backend, monkeypatch)
    stack = await start_stack(
        nursery,
        env={
            "VOLSPIKE_API_URL": "http://backend.test",
            "VOLSPIKE_API_KEY": KEY,
            "FORWARD_INTERVAL_SEC": "10",
        },
    )
    await trio.sleep(95)
    service = stack.service
    assert service.health["forwarder"].state == "running"
    posts = backend.accepted("backend.test")
    assert len(posts) == 9
    assert all(b.at - a.at == pytest.approx(10.0) for a, b in itertools.pairwise(posts))
    assert all(p.headers["X-API-Key"] == KEY for p in posts)
    assert all(p.body["totalSymbols"] == len(p.body["data"]) for p in posts)
    # Liquid symbols go as realtime, the others as their latest 5-minute snapshot reading.
    assert {i["source"] for i in posts[-1].body["data"]} == {"realtime", "snapshot"}
    # The last post is exactly the freshest priced reading of each symbol at that moment.
    posted_at = service.clock.start_epoch_s + (posts[-1].at - service.clock.start_trio)
    book = WebState()
    for samples in stack.recorder.samples.values():
        for s in samples:
            if s.received_at <= posted_at and forwarder.forwardable(s):
                book.record(s)
    expected = book.freshest(posted_at)
    assert backend.last_snapshot("backend.test") == [
        (symbol, float(expected[symbol].contracts)) for symbol in sorted(expected)
    ]
    assert service.forwarder.targets["http://backend.test"].posted == len(posts)


async def test_a_backend_that_replaces_its_cache_holds_95pct_of_our_frontend_symbols_after_100s_of_demo(
    nursery, autojump_clock, monkeypatch: pytest.MonkeyPatch
):
    """Issue 10's acceptance: seed 003's backend (cache replaced by each POST, markPrice <= 0
    dropped) against `make demo`'s market, compared with our own GET /api/market/open-interest."""
    backend = FakeBackend()
    _forward_to(backend, monkeypatch)
    stack = await start_stack(
        nursery,
        scenario=load_scenario(BUILTIN_DIR / "demo.json"),
        env={"VOLSPIKE_API_URL": "http://backend.test", "VOLSPIKE_API_KEY": KEY},
    )
    await trio.sleep(100)

    response = await unfed_app(stack.service).test_client().get("/api/market/open-interest")
    ours: dict[str, float] = (await response.get_json())["data"]
    assert ours == to_json(frontend_view(stack.service.web, stack.service.clock.now()))["data"]
    cache = backend.cache["backend.test"]
    coverage = len(ours.keys() & cache.keys()) / len(ours)
    print(f"backend cache holds {coverage:.1%} of our {len(ours)} symbols ({len(cache)} cached)")
    assert len(ours) >= 300
    assert coverage >= 0.95
    assert all(usd > 0 for usd in cache.values())
