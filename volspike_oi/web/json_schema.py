"""JSON Schema (OpenAPI 3.1) generated from the attrs classes that declare the response bodies.

`component_schemas` takes the ordered table of components: a class becomes a closed object
schema (`additionalProperties: false`), a dict is kept as written (the request bodies, which
describe what a parser accepts). Its docstring is the object's description; each field gives a
property named and described by its `volspike_oi.wire` metadata, whose type maps like this:

- `str`, `int`, `float`, `bool` → `string`, `integer`, `number`, `boolean`;
- `Literal["a", "b"]` → `{"type": "string", "enum": ["a", "b"]}` (values of one JSON type);
- `list[X]`, `tuple[X, ...]` → `{"type": "array", "items": X}`;
- `dict[str, X]` → `{"type": "object", "additionalProperties": X}`;
- an attrs class of the table → `{"$ref": "#/components/schemas/<its name>"}`;
- `Annotated[X, Keywords(...)]` → X's schema plus those keywords (`wire.Count`, `wire.IsoTime`);
- `X | None` → "null" added to X's `type` (and `enum`); a `$ref` becomes
  `{"oneOf": [X, {"type": "null"}]}`, as 3.1 has no `nullable`;
- `X | Absent` → X, and the property is not `required` (every other one is).

Anything else raises `UnsupportedType`, so the spec never says less than the code sends.
"""

from __future__ import annotations

import functools
import operator
import types
import typing
from collections.abc import Mapping
from typing import Any, Literal

import attrs

from volspike_oi.wire import DESCRIPTION, Absent, Keywords, json_names

Schema = dict[str, Any]

_PLAIN: dict[Any, str] = {str: "string", int: "integer", float: "number", bool: "boolean"}
_NULL: Schema = {"type": "null"}


class UnsupportedType(TypeError):
    """A field type this generator has no JSON Schema for."""


def ref(name: str) -> Schema:
    return {"$ref": f"#/components/schemas/{name}"}


def component_schemas(table: Mapping[str, type | Schema]) -> dict[str, Schema]:
    """`components/schemas` in the table's order: classes generated, dicts as they are."""
    names = {cls: name for name, cls in table.items() if isinstance(cls, type)}
    return {
        name: object_schema(entry, names) if isinstance(entry, type) else entry
        for name, entry in table.items()
    }


def object_schema(cls: type, names: Mapping[type, str]) -> Schema:
    """The closed object schema of the attrs class `cls`; `names` are the components a nested
    class may refer to. The class docstring is the description."""
    if not attrs.has(cls):
        raise UnsupportedType(f"{cls.__qualname__} is not an attrs class")
    hints = typing.get_type_hints(cls, include_extras=True)
    properties: dict[str, Schema] = {}
    required: list[str] = []
    for (json_name, attribute), field in zip(json_names(cls), attrs.fields(cls), strict=True):
        hint, optional = _without_absent(hints[attribute])
        try:
            schema = type_schema(hint, names)
        except UnsupportedType as exc:
            raise UnsupportedType(f"{cls.__qualname__}.{attribute}: {exc}") from None
        if field.metadata.get(DESCRIPTION):
            schema = {**schema, "description": field.metadata[DESCRIPTION]}
        properties[json_name] = schema
        if not optional:
            required.append(json_name)
    out: Schema = {"type": "object"}
    if cls.__doc__:
        out["description"] = " ".join(cls.__doc__.split())
    out |= {"properties": properties, "required": required, "additionalProperties": False}
    return out


def type_schema(hint: Any, names: Mapping[type, str]) -> Schema:
    """The schema of one type hint (see the module docstring for the table)."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if hint in _PLAIN:
        return {"type": _PLAIN[hint]}
    if origin is typing.Annotated:
        schema = type_schema(args[0], names)
        for extra in hint.__metadata__:
            if isinstance(extra, Keywords):
                schema |= extra.keywords
        return schema
    if origin is Literal:
        kinds = {_PLAIN.get(type(value)) for value in args}
        if len(kinds) != 1 or None in kinds:
            raise UnsupportedType(f"{hint}: a Literal's values must share one JSON type")
        return {"type": kinds.pop(), "enum": list(args)}
    if origin is list or (origin is tuple and len(args) == 2 and args[1] is ...):
        return {"type": "array", "items": type_schema(args[0], names)}
    if origin is dict and args[0] is str:
        return {"type": "object", "additionalProperties": type_schema(args[1], names)}
    if origin in (typing.Union, types.UnionType) and type(None) in args:
        rest = [a for a in args if a is not type(None)]
        return _or_null(type_schema(_union(rest), names))
    if isinstance(hint, type) and attrs.has(hint):
        if hint not in names:
            raise UnsupportedType(f"{hint.__qualname__} is not in the table of components")
        return ref(names[hint])
    raise UnsupportedType(
        f"no JSON Schema for {hint!r}: use str, int, float, bool, Literal, list, "
        "tuple[X, ...], dict[str, X], an attrs component, X | None or Annotated[X, Keywords()]"
    )


def _union(members: list[Any]) -> Any:
    """`members[0] | members[1] | …` (the one member when there is one)."""
    return functools.reduce(operator.or_, members)


def _or_null(schema: Schema) -> Schema:
    kinds = schema.get("type")
    if kinds is None:  # a $ref or a oneOf
        return {"oneOf": [schema, _NULL]}
    kinds = [kinds] if isinstance(kinds, str) else kinds
    out = {**schema, "type": [*kinds, "null"]}
    if "enum" in schema:
        out["enum"] = [*schema["enum"], None]
    return out


def _without_absent(hint: Any) -> tuple[Any, bool]:
    """`hint` without `Absent`, and whether it had it (the member may be left out)."""
    args = typing.get_args(hint)
    if typing.get_origin(hint) not in (typing.Union, types.UnionType) or Absent not in args:
        return hint, False
    return _union([a for a in args if a is not Absent]), True
