"""The `/_sim/*` control routes every venue simulator answers the same way (no limits, no faults):

- `GET /_sim/stats`: what the simulator saw; `GET /_sim/faults`: the injected faults;
- `POST /_sim/faults` `{field: value, …}`: change those fields, strictly (JSON's own types);
- `POST /_sim/drop-websockets`: every open connection drops;
- `POST /_sim/silence` / `/_sim/rate-limit` `{"seconds": s}`: connections stay open but nothing is
  sent / every REST request is refused in the venue's words, for `s` seconds.

Bad input is a 400 naming the problem, an unknown route a 404.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any, Protocol

import attrs
import cattrs

from volspike_oi.sim.answer import VenueAnswer
from volspike_oi.sim.faults import Faults


class Controlled(Protocol):
    """What the control routes change on a simulator."""

    @property
    def faults(self) -> Faults: ...
    def set_faults(self, faults: Faults) -> None: ...
    def drop_websockets(self) -> None: ...
    def silence(self, seconds: float) -> None: ...
    def rate_limit(self, seconds: float) -> None: ...


def _answer(status: int, doc: Any) -> VenueAnswer:
    return VenueAnswer(status, json.dumps(doc, separators=(",", ":")).encode())


def control(
    sim: Controlled,
    method: str,
    path: str,
    body: bytes,
    stats: Callable[[], Any],
    rate_limit: Callable[[float, Mapping[str, Any]], None] | None = None,
) -> VenueAnswer:
    """Answer one control request. `stats()` is the venue's `/_sim/stats` document;
    `rate_limit(seconds, body)` replaces `sim.rate_limit` for a venue with more than one kind
    of refusal (Bybit's `"kind"`)."""
    try:
        result = _result(sim, method, path, body, stats, rate_limit)
    except (ValueError, TypeError, cattrs.BaseValidationError) as exc:
        return _answer(400, {"error": str(exc)})
    if result is None:
        return _answer(404, {"error": f"no control route {method} {path}"})
    return _answer(200, result)


def _result(
    sim: Controlled,
    method: str,
    path: str,
    body: bytes,
    stats: Callable[[], Any],
    rate_limit: Callable[[float, Mapping[str, Any]], None] | None,
) -> Any:
    if path == "/_sim/stats" and method == "GET":
        return stats()
    if path == "/_sim/faults" and method == "GET":
        return cattrs.unstructure(sim.faults)
    if method != "POST":
        return None
    doc = json.loads(body or b"{}")
    if not isinstance(doc, dict):
        raise ValueError("body must be a JSON object")
    if path == "/_sim/faults":
        sim.set_faults(_evolved(sim.faults, doc))
        return cattrs.unstructure(sim.faults)
    if path == "/_sim/drop-websockets":
        sim.drop_websockets()
        return {"ok": True}
    if path in ("/_sim/silence", "/_sim/rate-limit"):
        seconds = doc.get("seconds")
        if isinstance(seconds, bool) or not isinstance(seconds, int | float) or seconds <= 0:
            raise ValueError("'seconds' must be a positive number")
        if path == "/_sim/silence":
            sim.silence(seconds)
        elif rate_limit is not None:
            rate_limit(seconds, doc)
        else:
            sim.rate_limit(seconds)
        return {"ok": True, "seconds": seconds}
    return None


def _evolved(current: Faults, doc: Mapping[str, Any]) -> Faults:
    """`current` with the fields of `doc` changed; the fields left out keep their values."""
    fields = cattrs.unstructure(current)
    unknown = set(doc) - set(fields)
    if unknown:
        raise ValueError(f"unknown fault fields: {sorted(unknown)}")
    for name, value in doc.items():
        # JSON's own types: true/false for flags, numbers (not strings) for the rest.
        expected = bool if isinstance(fields[name], bool) else int | float
        if isinstance(value, bool) != (expected is bool) or not isinstance(value, expected):
            raise ValueError(
                f"{name}: expected {'true or false' if expected is bool else 'a number'}"
            )
    return attrs.evolve(current, **doc)
