"""The WebSocket hub and the client ops, without sockets: what each subscriber's queue receives.

Rules: publishing never waits; `oi` rows are filtered to each subscriber's symbols, one message
per subscriber; a channel a subscriber did not ask for sends it nothing; a subscriber whose
queue (`WS_CLIENT_QUEUE`) is full is cut off — marked dropped, counted, its channel closed —
while the others keep receiving. (That the replies fit the published schema is checked in
tests/web/test_openapi.py; the same rules over real sockets in tests/web/test_ws.py.)
"""

from __future__ import annotations

import json
from typing import Any

import pytest
import trio

from volspike_oi.web.contract import DEFAULT_WS_CHANNELS, WS_CLIENT_QUEUE
from volspike_oi.web.hub import Hub, Subscriber
from volspike_oi.web.ws_ops import apply_op

Queue = trio.MemoryReceiveChannel[str]


def row(symbol: str) -> dict[str, Any]:
    return {"symbol": symbol, "openInterest": 1.0}


def drain(queue: Queue) -> list[Any]:
    """Every message waiting in `queue`, parsed."""
    out = []
    while True:
        try:
            out.append(json.loads(queue.receive_nowait()))
        except trio.WouldBlock:
            return out


def subscribed(
    hub: Hub, *, channels: set[str] | None = None, symbols: set[str] | None = None
) -> tuple[Subscriber, Queue]:
    subscriber, queue = hub.subscribe()
    if channels is not None:
        subscriber.channels = frozenset(channels)
    subscriber.symbols = None if symbols is None else frozenset(symbols)
    return subscriber, queue


# -- the hub --------------------------------------------------------------------------------------


def test_a_new_subscriber_hears_every_channel_and_every_symbol():
    subscriber, _ = Hub().subscribe()
    assert subscriber.channels == DEFAULT_WS_CHANNELS
    assert subscriber.symbols is None
    assert not subscriber.dropped


def test_publish_oi_sends_each_subscriber_one_message_with_only_its_symbols():
    hub = Hub()
    _, everything = subscribed(hub)
    _, btc_eth = subscribed(hub, symbols={"BTCUSDT", "ETHUSDT"})
    _, doge = subscribed(hub, symbols={"DOGEUSDT"})
    hub.publish_oi([row("BTCUSDT"), row("SOLUSDT"), row("ETHUSDT")])
    assert drain(everything) == [
        {"event": "oi", "data": [row("BTCUSDT"), row("SOLUSDT"), row("ETHUSDT")]}
    ]
    assert drain(btc_eth) == [{"event": "oi", "data": [row("BTCUSDT"), row("ETHUSDT")]}]
    assert drain(doge) == []  # none of its symbols: no empty message
    assert hub.published_total == 1


def test_publish_oi_with_no_rows_sends_nothing():
    hub = Hub()
    _, queue = subscribed(hub)
    hub.publish_oi(iter([]))
    assert drain(queue) == []
    assert hub.published_total == 0


def test_a_subscriber_without_the_oi_channel_gets_no_oi_batch():
    hub = Hub()
    _, queue = subscribed(hub, channels={"alerts", "universe"})
    hub.publish_oi([row("BTCUSDT")])
    assert drain(queue) == []


def test_publish_reaches_only_the_subscribers_of_its_channel_and_symbol():
    hub = Hub()
    _, alerts_all = subscribed(hub, channels={"alerts"})
    _, alerts_btc = subscribed(hub, channels={"alerts"}, symbols={"BTCUSDT"})
    _, alerts_eth = subscribed(hub, channels={"alerts"}, symbols={"ETHUSDT"})
    _, oi_only = subscribed(hub, channels={"oi"})
    hub.publish("alerts", "open_interest_alert", {"symbol": "BTCUSDT"}, symbol="BTCUSDT")
    message = {"event": "open_interest_alert", "data": {"symbol": "BTCUSDT"}}
    assert drain(alerts_all) == [message]
    assert drain(alerts_btc) == [message]
    assert drain(alerts_eth) == []
    assert drain(oi_only) == []


def test_a_publish_without_a_symbol_reaches_symbol_filtered_subscribers_too():
    hub = Hub()
    _, queue = subscribed(hub, channels={"universe"}, symbols={"ETHUSDT"})
    hub.publish("universe", "universe", {"count": 2})
    assert drain(queue) == [{"event": "universe", "data": {"count": 2}}]


def test_broadcast_reaches_every_subscriber_whatever_it_filters():
    hub = Hub()
    queues = [
        subscribed(hub)[1],
        subscribed(hub, channels={"alerts"}, symbols={"BTCUSDT"})[1],
        subscribed(hub, channels={"universe"})[1],
    ]
    hub.broadcast('{"event": "heartbeat"}')
    assert [drain(q) for q in queues] == [[{"event": "heartbeat"}]] * 3


def test_a_full_queue_cuts_its_subscriber_off_while_the_others_keep_receiving():
    hub = Hub()
    slow, slow_queue = subscribed(hub)
    fast, fast_queue = subscribed(hub)
    for k in range(WS_CLIENT_QUEUE):
        hub.broadcast(json.dumps({"n": k}))
        drain(fast_queue)  # the fast client keeps up; the slow one never reads
    assert slow in hub.subscribers
    hub.broadcast(json.dumps({"n": "one too many"}))
    hub.publish_oi([row("BTCUSDT")])
    assert slow.dropped
    assert hub.dropped_total == 1
    assert hub.subscribers == {fast}
    assert drain(fast_queue) == [{"n": "one too many"}, {"event": "oi", "data": [row("BTCUSDT")]}]
    # The slow client reads what was queued, then finds its channel closed (its writer then
    # closes the socket with 1013).
    queued = [json.loads(slow_queue.receive_nowait()) for _ in range(WS_CLIENT_QUEUE)]
    assert queued == [{"n": k} for k in range(WS_CLIENT_QUEUE)]
    with pytest.raises(trio.EndOfChannel):
        slow_queue.receive_nowait()


def test_send_to_a_dropped_subscriber_is_ignored():
    hub = Hub()
    slow, _ = subscribed(hub)
    for k in range(WS_CLIENT_QUEUE + 1):
        hub.send_to(slow, str(k))
    assert slow.dropped
    hub.send_to(slow, '{"event": "pong"}')  # no error, nothing counted again
    assert hub.dropped_total == 1


def test_send_to_reaches_only_that_subscriber():
    hub = Hub()
    one, one_queue = subscribed(hub)
    _, other_queue = subscribed(hub)
    hub.send_to(one, '{"event": "pong"}')
    assert drain(one_queue) == [{"event": "pong"}]
    assert drain(other_queue) == []


def test_unsubscribe_closes_the_channel_and_publishing_goes_on_without_it():
    hub = Hub()
    gone, gone_queue = subscribed(hub)
    _, queue = subscribed(hub)
    hub.unsubscribe(gone)
    hub.publish_oi([row("BTCUSDT")])
    assert gone not in hub.subscribers
    assert not gone.dropped
    assert hub.dropped_total == 0
    with pytest.raises(trio.EndOfChannel):
        gone_queue.receive_nowait()
    assert len(drain(queue)) == 1


def test_a_subscriber_whose_reader_went_away_is_forgotten_without_counting_a_drop():
    hub = Hub()
    subscriber, queue = subscribed(hub)
    queue.close()
    hub.broadcast("{}")
    assert subscriber not in hub.subscribers
    assert hub.dropped_total == 0


# -- client ops -----------------------------------------------------------------------------------


def test_subscribe_sets_channels_and_upper_cased_symbols():
    subscriber, _ = Hub().subscribe()
    reply = apply_op(subscriber, '{"op": "subscribe", "channels": ["oi"], "symbols": ["btcusdt"]}')
    assert subscriber.channels == frozenset({"oi"})
    assert subscriber.symbols == frozenset({"BTCUSDT"})
    assert json.loads(reply or "") == {
        "event": "subscribed",
        "channels": ["oi"],
        "symbols": ["BTCUSDT"],
        "venues": ["binance"],
    }


def test_subscribe_without_fields_means_every_channel_and_every_symbol():
    subscriber, _ = Hub().subscribe()
    apply_op(subscriber, '{"op": "subscribe", "channels": ["oi"], "symbols": ["X"]}')
    reply = apply_op(subscriber, b'{"op": "subscribe"}')
    assert (subscriber.channels, subscriber.symbols) == (DEFAULT_WS_CHANNELS, None)
    assert json.loads(reply or "")["channels"] == sorted(DEFAULT_WS_CHANNELS)


@pytest.mark.parametrize(
    "op",
    [
        '{"op": "subscribe", "channels": ["trades"]}',
        '{"op": "subscribe", "channels": []}',
        '{"op": "subscribe", "symbols": ["BTCUSDT", 7]}',
        '{"op": "subscribe", "symbols": "BTCUSDT"}',
        '{"op": "unsubscribe"}',
        "not json",
    ],
)
def test_a_refused_op_leaves_the_subscription_as_it_was(op: str):
    subscriber, _ = Hub().subscribe()
    apply_op(subscriber, '{"op": "subscribe", "channels": ["alerts"], "symbols": ["ETHUSDT"]}')
    reply = json.loads(apply_op(subscriber, op) or "")
    assert reply["event"] == "error"
    assert (subscriber.channels, subscriber.symbols) == (
        frozenset({"alerts"}),
        frozenset({"ETHUSDT"}),
    )


def test_ping_is_answered_with_pong_and_changes_nothing():
    subscriber, _ = Hub().subscribe()
    assert json.loads(apply_op(subscriber, '{"op": "ping"}') or "") == {"event": "pong"}
    assert (subscriber.channels, subscriber.symbols) == (DEFAULT_WS_CHANNELS, None)


def test_wants_tells_whether_any_client_listens_on_a_channel():
    hub = Hub()
    assert not hub.wants("oi")
    subscriber, _ = hub.subscribe()
    subscriber.channels = frozenset({"alerts"})
    assert hub.wants("alerts")
    assert not hub.wants("oi")
    hub.unsubscribe(subscriber)
    assert not hub.wants("alerts")
