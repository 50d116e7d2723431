"""The forwarder against a fake VolSpike backend (an `httpx.MockTransport`): payload shapes,
retries across an outage, refusals, independent targets, a pipeline that never waits, and an
API key that never reaches a log. Everything runs under `autojump_clock`; the fake backend
answers on trio's clock, so a hanging backend is a handler that sleeps forever.
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
from volspike_oi import metrics as m
from volspike_oi import service as service_mod
from volspike_oi.actors import forwarder
from volspike_oi.clock import WallClock
from volspike_oi.messages import OiAlert, OiSample
from volspike_oi.metrics import Metrics
from volspike_oi.snapshots import ForwarderStatus
from volspike_oi.views import alert_view
from volspike_oi.web.ingest import parse_alert_ingest, parse_oi_ingest
from volspike_oi.wire import to_json

PROD = "http://prod.backend.test"
DEV = "http://dev.backend.test"
KEY = "sk-live-5f1d0c9a7e"
OI_URL = forwarder.OI_PATH
ALERT_URL = forwarder.ALERT_PATH
REALTIME_KEYS = {"symbol", "openInterest", "openInterestUsd", "markPrice", "source"}

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
        return httpx.Response(status, json={"stored": 1})

    def accepted(self, host: str, path: str = OI_URL) -> list[Post]:
        return [p for p in self.posts if p.host == host and p.path == path and p.status == 200]

    def items(self, host: str) -> list[tuple[str, float]]:
        return [
            (i["symbol"], i["openInterest"]) for p in self.accepted(host) for i in p.body["data"]
        ]


@attrs.define
class Rig:
    backend: FakeBackend
    samples_tx: trio.MemorySendChannel[OiSample]
    alerts_tx: trio.MemorySendChannel[OiAlert]
    status: ForwarderStatus
    metrics: Metrics
    clock: WallClock


@pytest.fixture
def backend() -> FakeBackend:
    return FakeBackend()


@pytest.fixture
async def start_forwarder(
    nursery: trio.Nursery, backend: FakeBackend
) -> AsyncIterator[Callable[..., Any]]:
    """Start the forwarder on the fake backend; keyword args override its defaults."""
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
            await nursery.start(
                functools.partial(
                    forwarder.run,
                    http,
                    list(targets),
                    KEY,
                    samples_rx,
                    alerts_rx,
                    rig.clock,
                    rig.metrics,
                    rig.status,
                    **kw,
                )
            )
            return rig

        yield start
        nursery.cancel_scope.cancel()


def sample(symbol: str, contracts: float, rig: Rig, *, mark: str | None = "2.5") -> OiSample:
    price = None if mark is None else Decimal(mark)
    oi = Decimal(str(contracts))
    return OiSample(
        symbol,
        oi,
        int(rig.clock.now() * 1000),
        rig.clock.now(),
        price,
        None if price is None else oi * price,
        "realtime",
    )


def alert(symbol: str, rig: Rig) -> OiAlert:
    return OiAlert(symbol, "UP", 150_000.0, 165_000.0, 0.1, 15_000.0, rig.clock.now(), 30, 4.2e4)


async def test_realtime_samples_go_out_in_batches_of_at_most_100_with_the_documented_keys(
    start_forwarder, backend, autojump_clock
):
    rig = await start_forwarder()
    sent = [sample(f"S{i:03d}USDT", 1000 + i, rig) for i in range(250)]
    for s in sent:
        await rig.samples_tx.send(s)
    await rig.samples_tx.send(attrs.evolve(sent[0], symbol="SNAPUSDT", source="snapshot"))
    await rig.samples_tx.send(sample("NOMARKUSDT", 5, rig, mark=None))
    await rig.samples_tx.send(sample("ZEROMARKUSDT", 5, rig, mark="0"))
    await trio.sleep(forwarder.FLUSH_EVERY_S + 0.1)

    posts = backend.accepted("prod.backend.test")
    assert [len(p.body["data"]) for p in posts] == [100, 100, 50]
    for post in posts:
        assert post.headers["X-API-Key"] == KEY
        assert set(post.body) == {"data", "timestamp", "totalSymbols"}
        assert post.body["totalSymbols"] == len(post.body["data"])
        for item in post.body["data"]:
            assert set(item) == REALTIME_KEYS
            assert item["source"] == "realtime"
            assert all(type(item[k]) is float for k in ("openInterest", "openInterestUsd"))
            assert type(item["markPrice"]) is float
        # The repo's own copy of the backend's ingest validation accepts every item.
        assert parse_oi_ingest(post.body, None).rejected == []
    assert backend.items("prod.backend.test") == [(s.symbol, float(s.contracts)) for s in sent]
    assert rig.status.skipped_without_price == 2
    target = rig.status.targets[PROD]
    assert (target.posted, target.samples_sent, target.buffered) == (3, 250, 0)
    assert rig.metrics.get(m.FORWARD_POSTS) == 3


async def test_alerts_are_posted_one_per_request_in_the_seed_shape(
    start_forwarder, backend, autojump_clock
):
    rig = await start_forwarder()
    alerts = [alert(s, rig) for s in ("BTCUSDT", "ETHUSDT", "SOLUSDT")]
    for a in alerts:
        await rig.alerts_tx.send(a)
    await trio.sleep(forwarder.FLUSH_EVERY_S + 0.1)

    posts = backend.accepted("prod.backend.test", ALERT_URL)
    assert [p.body for p in posts] == [to_json(alert_view(a)) for a in alerts]
    for post in posts:
        assert set(post.body) >= SEED_ALERT_KEYS
        assert post.body["source"] == "oi_realtime_poller"
        assert post.headers["X-API-Key"] == KEY
        assert parse_alert_ingest(post.body).symbol == post.body["symbol"]
    assert rig.status.targets[PROD].alerts_sent == 3


async def test_a_minute_of_503_is_retried_with_backoff_then_everything_arrives_once_in_order(
    start_forwarder, backend, autojump_clock
):
    rig = await start_forwarder()
    t0 = trio.current_time()
    backend.answers["prod.backend.test"] = lambda _r, _b: (
        503 if trio.current_time() < t0 + 60 else 200
    )
    sent: list[tuple[str, float]] = []
    alerts: list[OiAlert] = []
    for k in range(24):  # two minutes of polling, ten symbols every 5 s
        for i in range(10):
            s = sample(f"S{i}USDT", 100 * k + i, rig)
            sent.append((s.symbol, float(s.contracts)))
            await rig.samples_tx.send(s)
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
    assert backend.items("prod.backend.test") == sent
    posted_alerts = [p.body for p in backend.accepted("prod.backend.test", ALERT_URL)]
    assert posted_alerts == [to_json(alert_view(a)) for a in alerts]
    target = rig.status.targets[PROD]
    assert target.failing_since is None
    assert target.last_error == "HTTP 503"
    assert (target.buffered, target.dropped, target.rejected) == (0, 0, 0)
    assert rig.metrics.get(m.FORWARD_FAILURES) == len(failures)


async def test_a_400_drops_only_that_batch_and_logs_its_body_once(
    start_forwarder, backend, autojump_clock, caplog: pytest.LogCaptureFixture
):
    rig = await start_forwarder()
    backend.answers["prod.backend.test"] = lambda _r, body: (
        400 if any(i["symbol"] == "BADUSDT" for i in body.get("data", ())) else 200
    )
    first_round = [sample(f"S{i:03d}USDT", i, rig) for i in range(150)]
    first_round[20] = sample("BADUSDT", 20, rig)
    with caplog.at_level(logging.ERROR):
        for s in first_round:
            await rig.samples_tx.send(s)
        await trio.sleep(6)
        second_round = [sample(f"S{i:03d}USDT", 1000 + i, rig) for i in range(10)]
        for s in second_round:
            await rig.samples_tx.send(s)
        await trio.sleep(60)

    refused = [p for p in backend.posts if p.status == 400]
    assert len(refused) == 1  # never retried
    assert backend.items("prod.backend.test") == [
        (s.symbol, float(s.contracts)) for s in first_round[100:] + second_round
    ]
    target = rig.status.targets[PROD]
    assert (target.rejected, target.buffered) == (100, 0)
    assert target.last_error.startswith("HTTP 400")
    assert sum("refused (HTTP 400)" in r.getMessage() for r in caplog.records) == 1


async def test_a_dead_dev_backend_does_not_delay_prod(start_forwarder, backend, autojump_clock):
    rig = await start_forwarder(targets=(PROD, DEV))
    backend.answers["dev.backend.test"] = lambda _r, _b: None  # hangs
    sent_at: dict[tuple[str, float], float] = {}
    for k in range(24):
        for i in range(5):
            s = sample(f"S{i}USDT", 10 * k + i, rig)
            sent_at[(s.symbol, float(s.contracts))] = trio.current_time()
            await rig.samples_tx.send(s)
        await trio.sleep(5)
    await trio.sleep(1)

    delays = [
        p.at - sent_at[(i["symbol"], i["openInterest"])]
        for p in backend.accepted("prod.backend.test")
        for i in p.body["data"]
    ]
    assert len(delays) == len(sent_at)
    assert max(delays) <= forwarder.FLUSH_EVERY_S
    assert backend.accepted("dev.backend.test") == []
    dev = rig.status.targets[DEV]
    assert dev.failed >= 2
    assert dev.last_error == f"no answer within {forwarder.POST_TIMEOUT_S:g} s"
    assert dev.buffered == len(sent_at)


async def test_the_pipeline_keeps_flowing_while_every_backend_hangs(
    start_forwarder, backend, autojump_clock, caplog: pytest.LogCaptureFixture
):
    rig = await start_forwarder(targets=(PROD, DEV), channel_size=1, max_buffered_samples=1000)
    backend.answers = {
        "prod.backend.test": lambda _r, _b: None,
        "dev.backend.test": lambda _r, _b: None,
    }
    for i in range(10):
        await rig.samples_tx.send(sample(f"S{i}USDT", i, rig))
    await trio.sleep(forwarder.FLUSH_EVERY_S + 1)  # both flushers are now stuck in a request
    assert len(backend.posts) == 2
    with caplog.at_level(logging.WARNING):
        with trio.fail_after(0.001):  # a pipeline that waited on a backend would take seconds
            for i in range(5000):
                await rig.samples_tx.send(sample(f"S{i % 10}USDT", 100 + i, rig))
        await trio.sleep(0.1)
    for url in (PROD, DEV):
        target = rig.status.targets[url]
        assert (target.buffered, target.dropped) == (1000, 5010 - 1000)
    full = [r for r in caplog.records if "forward buffer" in r.getMessage()]
    assert len(full) == 2  # once per target, not once per dropped sample


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


async def test_the_service_forwards_realtime_samples_to_the_backend(
    nursery, autojump_clock, monkeypatch: pytest.MonkeyPatch
):
    backend = FakeBackend()
    monkeypatch.setattr(
        service_mod,
        "run",
        functools.partial(service_mod.run, forward_transport=httpx.MockTransport(backend.handle)),
    )
    stack = await start_stack(
        nursery, env={"VOLSPIKE_API_URL": "http://backend.test", "VOLSPIKE_API_KEY": KEY}
    )
    await trio.sleep(90)
    service = stack.service
    assert service.health["forwarder"].state == "running"
    posts = backend.accepted("backend.test")
    assert posts
    assert all(p.headers["X-API-Key"] == KEY for p in posts)
    assert all(len(p.body["data"]) <= forwarder.BATCH_ITEMS for p in posts)
    forwarded = backend.items("backend.test")
    assert all(i["source"] == "realtime" for p in posts for i in p.body["data"])
    settled = service.clock.now() - forwarder.FLUSH_EVERY_S - 1
    expected = [
        (s.symbol, float(s.contracts))
        for samples in stack.recorder.samples.values()
        for s in samples
        if s.source == "realtime" and s.usd is not None and s.received_at < settled
    ]
    assert expected
    assert set(expected) <= set(forwarded)
    realtime = {
        s.symbol
        for samples in stack.recorder.samples.values()
        for s in samples
        if s.source == "realtime"
    }
    snapshot_only = set(stack.recorder.samples) - realtime
    assert snapshot_only
    assert {symbol for symbol, _ in forwarded} <= realtime
    assert service.forwarder.targets["http://backend.test"].posted == len(posts)
