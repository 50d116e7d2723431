"""One REST answer of a venue simulator's `handle()`, and the injected fault applied to it.

Every venue draws a request's fault (`faults.decide`) at its own point of `handle()` and words
its own 5xx; what a fault does to the answer (latency, a hang, a body cut short) is the same.
"""

from __future__ import annotations

import json
import random
from typing import Any

import attrs

from volspike_oi.sim.faults import FaultDecision, Faults, decide

JSON_HEADERS = (("Content-Type", "application/json"),)


@attrs.frozen
class VenueAnswer:
    """One REST answer (the `SimAnswer` that `sim/transport.py` and `sim/venue_app.py` serve)."""

    status: int
    body: bytes
    headers: tuple[tuple[str, str], ...] = JSON_HEADERS
    delay_s: float = 0.0
    """Injected latency: the answer is sent this much later."""
    hang: bool = False
    """Never answered: the client must time out."""

    def json(self) -> Any:
        return json.loads(self.body)


HANG = VenueAnswer(0, b"", (), hang=True)
"""The answer that never comes (its status and body are never seen)."""


@attrs.frozen
class RestFault:
    """What the injected faults do to one REST request."""

    decision: FaultDecision
    delay_s: float

    @classmethod
    def draw(cls, faults: Faults, rng: random.Random) -> RestFault:
        return cls(decide(faults, rng), faults.latency_ms / 1000)

    @property
    def hang(self) -> bool:
        return self.decision.hang

    @property
    def five_xx(self) -> int | None:
        """The 5xx status to answer instead of serving the request, if any."""
        return self.decision.status

    def served(
        self, body: bytes, headers: tuple[tuple[str, str], ...] = JSON_HEADERS
    ) -> VenueAnswer:
        """The 200 answer of a served request: delayed, and its body cut in half when the
        fault says malformed (a JSON parser must refuse it)."""
        if self.decision.malformed:
            body = body[: len(body) // 2]
        return VenueAnswer(200, body, headers, self.delay_s)
