"""One producer, several consumers: who may hold the producer back, and who only loses items.

A critical output (the store writer) keeps back-pressure: the producer waits for room, and the
wait is published (`FanOutStatus.waiting_since`) so `/health` can say who holds it. Any other
output gets each item without waiting; when its buffer is full the item is dropped for that
consumer alone and counted, so a stuck or crash-looping consumer never slows the producer.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Generic, TypeVar

import attrs
import trio

from volspike_oi import metrics as m
from volspike_oi.clock import WallClock
from volspike_oi.metrics import Metrics
from volspike_oi.snapshots import FanOutStatus

T = TypeVar("T")


@attrs.frozen
class Output(Generic[T]):
    """One consumer's channel."""

    consumer: str
    """The consumer's name, as in metrics and `/health` (`"store_writer"`)."""
    channel: trio.MemorySendChannel[T]
    critical: bool
    """Whether the producer waits for this consumer (True) or drops its items when full."""


@attrs.define
class FanOut(Generic[T]):
    """Sends each item to every output; `kind` names the items in metrics (`"samples"`)."""

    kind: str
    outputs: Sequence[Output[T]]
    status: FanOutStatus
    metrics: Metrics
    clock: WallClock

    async def send(self, item: T) -> None:
        for out in self.outputs:
            try:
                out.channel.send_nowait(item)
                continue
            except trio.WouldBlock:
                pass
            if out.critical:
                self.status.waiting_since.setdefault(out.consumer, self.clock.now())
                try:
                    await out.channel.send(item)
                finally:
                    self.status.waiting_since.pop(out.consumer, None)
            else:
                self.status.dropped[out.consumer] = self.status.dropped.get(out.consumer, 0) + 1
                self.metrics.inc(m.dropped(self.kind, out.consumer))
        # send_nowait is no checkpoint: keep this a schedule point whatever the outputs did.
        await trio.lowlevel.checkpoint()
