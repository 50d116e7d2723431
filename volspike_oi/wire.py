"""How a response body is declared once: frozen attrs classes whose fields carry their JSON name
and a one-line description. `to_json` turns such a value into the JSON data the server sends;
`volspike_oi.web.json_schema` turns the class into the JSON Schema of `/openapi.json`.
"""

from __future__ import annotations

import enum
from typing import Annotated, Any, Final

import attrs

JSON_NAME: Final = "json"
"""Field metadata key: the member's name in the JSON object (the field's own name when absent)."""
DESCRIPTION: Final = "description"
"""Field metadata key: one line for the API's readers (the OpenAPI and TypeScript docs)."""


class Absent(enum.Enum):
    """A member left out of the JSON object altogether, unlike None, which is sent as null.

    A field whose type admits `Absent` is optional in the schema (not in `required`)."""

    ABSENT = "absent"


ABSENT: Final = Absent.ABSENT


class Keywords:
    """JSON Schema keywords that narrow a type, attached with `Annotated` (see `Count`)."""

    def __init__(self, **keywords: Any) -> None:
        self.keywords = keywords

    def __repr__(self) -> str:
        return f"Keywords({self.keywords!r})"


Count = Annotated[int, Keywords(minimum=0)]
"""A whole number ≥ 0: a count, a length, a position."""
IsoTime = Annotated[str, Keywords(format="date-time")]
"""UTC ISO 8601 with a Z, as `volspike_oi.views.iso` writes it."""


def described(description: str = "", *, json: str | None = None) -> dict[str, Any]:
    """Field metadata: `attrs.field(metadata=described("Contracts.", json="openInterest"))`."""
    return {DESCRIPTION: description, JSON_NAME: json}


_NAMES: dict[type, tuple[tuple[str, str], ...]] = {}
"""`json_names` by class: `to_json` runs for every sample pushed to the WebSocket clients."""


def json_names(cls: type) -> tuple[tuple[str, str], ...]:
    """(JSON name, attribute name) of each field of the attrs class `cls`, in field order."""
    names = _NAMES.get(cls)
    if names is None:
        names = _NAMES[cls] = tuple(
            (field.metadata.get(JSON_NAME) or field.name, field.name) for field in attrs.fields(cls)
        )
    return names


_SCALARS: Final = frozenset({str, int, float, bool, type(None)})
"""Sent as they are, without a recursive call: most members are one of these."""


def to_json(value: Any) -> Any:
    """`value` as JSON data: attrs values become objects (members renamed, `ABSENT` ones left
    out, in field order), lists and tuples arrays; everything else is sent as it is."""
    cls = type(value)
    if cls in _NAMES or attrs.has(cls):
        out: dict[str, Any] = {}
        for name, attribute in json_names(cls):
            member = getattr(value, attribute)
            if member is ABSENT:
                continue
            out[name] = member if type(member) in _SCALARS else to_json(member)
        return out
    if isinstance(value, list | tuple):
        return [to_json(item) for item in value]
    if isinstance(value, dict):
        return {key: to_json(item) for key, item in value.items()}
    return value
