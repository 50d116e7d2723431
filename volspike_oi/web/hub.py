"""WebSocket fan-out: every client has a bounded outbound queue; laggards are cut off.

Publishing never waits: it `send_nowait`s each subscriber's memory channel, and a client whose
queue is full is dropped (its channel closed, so its writer closes the socket with 1013). A
slow client therefore never slows the pipeline or the other clients. This also keeps clear of
hypercorn 0.18's traps (trio-stack-facts §2a): the per-connection writer only awaits its own
queue, so it always checkpoints, and a blocked send stalls that one connection only.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

import attrs
import trio

from volspike_oi.web.contract import DEFAULT_WS_CHANNELS, DEFAULT_WS_VENUES, WS_CLIENT_QUEUE


@attrs.define(eq=False)
class Subscriber:
    send: trio.MemorySendChannel[str]
    channels: frozenset[str] = DEFAULT_WS_CHANNELS
    symbols: frozenset[str] | None = None
    """None = every symbol."""
    venues: frozenset[str] = DEFAULT_WS_VENUES
    """Whose `oi` rows it gets: Binance's unless it subscribed with `venues` (so a client
    written before there were venues sees no other venue's BTCUSDT)."""
    dropped: bool = False


@attrs.define
class Hub:
    subscribers: set[Subscriber] = attrs.Factory(set)
    dropped_total: int = 0
    published_total: int = 0

    def subscribe(self) -> tuple[Subscriber, trio.MemoryReceiveChannel[str]]:
        send, receive = trio.open_memory_channel[str](WS_CLIENT_QUEUE)
        subscriber = Subscriber(send)
        self.subscribers.add(subscriber)
        return subscriber, receive

    def unsubscribe(self, subscriber: Subscriber) -> None:
        self.subscribers.discard(subscriber)
        subscriber.send.close()

    def _offer(self, subscriber: Subscriber, message: str) -> None:
        try:
            subscriber.send.send_nowait(message)
        except trio.WouldBlock:
            subscriber.dropped = True
            self.dropped_total += 1
            self.unsubscribe(subscriber)
        except (trio.ClosedResourceError, trio.BrokenResourceError):
            self.subscribers.discard(subscriber)

    def send_to(self, subscriber: Subscriber, message: str) -> None:
        """A reply to one client (its subscription acknowledged, an error), queued like the rest."""
        if not subscriber.dropped:
            self._offer(subscriber, message)

    def wants(self, channel: str) -> bool:
        """Whether any client listens on `channel`: nobody listening, nothing to render."""
        return any(channel in s.channels for s in self.subscribers)

    def publish_oi(self, rows: Iterable[dict[str, Any]]) -> None:
        """One `oi` message per subscriber with the rows of its symbols (a batch per tick)."""
        rows = list(rows)
        if not rows:
            return
        everything: str | None = None
        venues_in_batch = {r.get("venue", "binance") for r in rows}
        for subscriber in list(self.subscribers):
            if "oi" not in subscriber.channels:
                continue
            if subscriber.symbols is None and subscriber.venues >= venues_in_batch:
                if everything is None:
                    everything = json.dumps({"event": "oi", "data": rows})
                message = everything
            else:
                mine = [
                    r
                    for r in rows
                    if r.get("venue", "binance") in subscriber.venues
                    and (subscriber.symbols is None or r["symbol"].upper() in subscriber.symbols)
                ]
                if not mine:
                    continue
                message = json.dumps({"event": "oi", "data": mine})
            self._offer(subscriber, message)
        self.published_total += 1

    def publish(self, channel: str, event: str, data: Any, symbol: str | None = None) -> None:
        message = json.dumps({"event": event, "data": data})
        for subscriber in list(self.subscribers):
            if channel not in subscriber.channels:
                continue
            if (
                symbol is not None
                and subscriber.symbols is not None
                and symbol not in subscriber.symbols
            ):
                continue
            self._offer(subscriber, message)
        self.published_total += 1

    def broadcast(self, message: str) -> None:
        for subscriber in list(self.subscribers):
            self._offer(subscriber, message)
