"""Fault injection for reliability tests: what the simulated exchange does wrong, and how often.

The decisions are drawn from the simulator's own seeded random stream, so a run with the same
seed and the same request order fails the same requests.
"""

from __future__ import annotations

import random
from typing import Any

import attrs


def _fraction(_: object, attribute: attrs.Attribute[float], value: float) -> None:
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"{attribute.name} must be a fraction from 0 to 1, got {value}")


def _non_negative(_: object, attribute: attrs.Attribute[Any], value: float) -> None:
    if value < 0:
        raise ValueError(f"{attribute.name} must be ≥ 0, got {value}")


@attrs.frozen
class Faults:
    """What goes wrong; all zero means a healthy exchange."""

    error_rate: float = attrs.field(default=0.0, validator=_fraction)
    """Fraction of REST requests answered with a 5xx (not counted against the weight)."""
    latency_ms: float = attrs.field(default=0.0, validator=_non_negative)
    """Added to every REST response."""
    hang_rate: float = attrs.field(default=0.0, validator=_fraction)
    """Fraction of REST requests that never get an answer (the client must time out)."""
    malformed_rate: float = attrs.field(default=0.0, validator=_fraction)
    """Fraction of REST 200 responses whose JSON body is cut short."""
    ws_drop_every_s: float = attrs.field(default=0.0, validator=_non_negative)
    """Drop every WebSocket connection this often (0 = never)."""
    background_weight_per_min: int = attrs.field(default=0, validator=_non_negative)
    """Weight per minute spent by "another process on the same IP", spread evenly."""
    ws_down: bool = False
    """The stream host is down: open connections drop and new ones are refused."""


@attrs.frozen
class FaultDecision:
    status: int | None = None
    """A 5xx status to answer with instead of serving the request."""
    hang: bool = False
    malformed: bool = False


FIVE_XX: tuple[tuple[int, int, str], ...] = (
    (503, -1001, "Service Unavailable."),
    (500, -1000, "Internal error; unable to process your request. Please try again."),
    (502, -1001, "Internal error; unable to process your request. Please try again."),
    (503, -1000, "Unknown error, please check your request or try again later."),
)


def decide(faults: Faults, rng: random.Random) -> FaultDecision:
    """One request's fate. Draws a fixed number of values so later decisions stay reproducible."""
    hang_draw, error_draw, malformed_draw = rng.random(), rng.random(), rng.random()
    if hang_draw < faults.hang_rate:
        return FaultDecision(hang=True)
    if error_draw < faults.error_rate:
        return FaultDecision(status=FIVE_XX[int(error_draw * 1e6) % len(FIVE_XX)][0])
    return FaultDecision(malformed=malformed_draw < faults.malformed_rate)
