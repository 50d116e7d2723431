"""The JSON Schema generator (`volspike_oi.web.json_schema`) and `to_json`, on their own.

Rules: pure functions, no app. Each documented type mapping has a case; an unsupported type
must raise `UnsupportedType` naming the field; and for every view class in the document,
values hypothesis builds serialize to JSON that the spec's validator accepts.
"""

from __future__ import annotations

import json
import types
import typing
from typing import Any, Literal

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.web.test_openapi import problems
from volspike_oi.views import iso
from volspike_oi.web.json_schema import (
    UnsupportedType,
    component_schemas,
    object_schema,
    ref,
    type_schema,
)
from volspike_oi.web.schemas import COMPONENTS
from volspike_oi.wire import ABSENT, Absent, Count, IsoTime, Keywords, described, to_json


@attrs.frozen
class Leaf:
    """A leaf."""

    name: str


@attrs.frozen
class Tree:
    """A tree: renamed, described, nullable and optional members."""

    leaf_count: Count = attrs.field(metadata=described("Leaves.", json="leafCount"))
    leaves: list[Leaf]
    best: Leaf | None
    planted_at: IsoTime | None = attrs.field(metadata=described(json="plantedAt"))
    note: str | Absent = attrs.field(default=ABSENT, metadata=described("Only when known."))


NAMES = {Leaf: "Leaf", Tree: "Tree"}


@pytest.mark.parametrize(
    ("hint", "schema"),
    [
        (str, {"type": "string"}),
        (int, {"type": "integer"}),
        (float, {"type": "number"}),
        (bool, {"type": "boolean"}),
        (Literal["UP", "DOWN"], {"type": "string", "enum": ["UP", "DOWN"]}),
        (Literal[1], {"type": "integer", "enum": [1]}),
        (list[int], {"type": "array", "items": {"type": "integer"}}),
        (tuple[str, ...], {"type": "array", "items": {"type": "string"}}),
        (dict[str, float], {"type": "object", "additionalProperties": {"type": "number"}}),
        (Count, {"type": "integer", "minimum": 0}),
        (IsoTime, {"type": "string", "format": "date-time"}),
        (float | None, {"type": ["number", "null"]}),
        (Count | None, {"type": ["integer", "null"], "minimum": 0}),
        (Literal["a"] | None, {"type": ["string", "null"], "enum": ["a", None]}),
        (Leaf, ref("Leaf")),
        (Leaf | None, {"oneOf": [ref("Leaf"), {"type": "null"}]}),
        (list[Leaf], {"type": "array", "items": ref("Leaf")}),
        (typing.Annotated[str, Keywords(minLength=1)], {"type": "string", "minLength": 1}),
    ],
)
def test_each_documented_type_maps_to_its_schema(hint: Any, schema: dict[str, Any]) -> None:
    assert type_schema(hint, NAMES) == schema


def test_a_class_becomes_a_closed_object_with_json_names_and_descriptions() -> None:
    assert object_schema(Tree, NAMES) == {
        "type": "object",
        "description": "A tree: renamed, described, nullable and optional members.",
        "properties": {
            "leafCount": {"type": "integer", "minimum": 0, "description": "Leaves."},
            "leaves": {"type": "array", "items": ref("Leaf")},
            "best": {"oneOf": [ref("Leaf"), {"type": "null"}]},
            "plantedAt": {"type": ["string", "null"], "format": "date-time"},
            "note": {"type": "string", "description": "Only when known."},
        },
        "required": ["leafCount", "leaves", "best", "plantedAt"],
        "additionalProperties": False,
    }


def test_the_table_keeps_written_schemas_and_its_order() -> None:
    written = {"type": "string", "enum": ["x"]}
    assert component_schemas({"Tree": Tree, "X": written, "Leaf": Leaf}) == {
        "Tree": object_schema(Tree, NAMES),
        "X": written,
        "Leaf": object_schema(Leaf, NAMES),
    }
    assert list(component_schemas({"Leaf": Leaf, "X": written})) == ["Leaf", "X"]


@pytest.mark.parametrize(
    "hint",
    [
        set[int],
        dict[int, str],
        tuple[int, str],
        Literal["a", 1],
        int | str,
        Any,
        bytes,
        Tree,  # an attrs class, but not in the table below
    ],
)
def test_an_unsupported_type_raises_a_clear_error(hint: Any) -> None:
    with pytest.raises(UnsupportedType):
        type_schema(hint, {Leaf: "Leaf"})


def test_the_error_names_the_class_and_field() -> None:
    @attrs.frozen
    class Odd:
        tags: set[str]

    with pytest.raises(UnsupportedType, match=r"Odd\.tags: no JSON Schema for set\[str\]"):
        object_schema(Odd, {})


def test_a_class_that_is_not_attrs_is_refused() -> None:
    with pytest.raises(UnsupportedType, match="not an attrs class"):
        object_schema(int, {})


def test_to_json_renames_drops_absent_members_keeps_null_and_field_order() -> None:
    tree = Tree(2, [Leaf("a"), Leaf("b")], None, "2025-11-06T12:05:00.000Z")
    assert json.dumps(to_json(tree)) == json.dumps(
        {
            "leafCount": 2,
            "leaves": [{"name": "a"}, {"name": "b"}],
            "best": None,
            "plantedAt": "2025-11-06T12:05:00.000Z",
        }
    )
    assert to_json(attrs.evolve(tree, note="tall"))["note"] == "tall"
    assert to_json({"k": (Leaf("c"),)}) == {"k": [{"name": "c"}]}


# -- every view class: what it serializes to fits what it generates ------------------------------

VIEW_CLASSES = {name: cls for name, cls in COMPONENTS.items() if isinstance(cls, type)}
ISO_TIMES = st.floats(min_value=0, max_value=4e9).map(iso)
"""What `iso` writes: the only way the views make a time."""


def values_of(hint: Any) -> st.SearchStrategy[Any]:
    """Values of a view field's type: hypothesis's own strategies, but `IsoTime` as `iso`
    writes it and finite floats (JSON has no NaN)."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if hint == IsoTime:
        return ISO_TIMES
    if hint is float:
        return st.floats(allow_nan=False, allow_infinity=False)
    if hint is Absent:
        return st.just(ABSENT)
    if hint == Count:
        return st.integers(min_value=0)
    if origin is typing.Annotated:
        return values_of(args[0])
    if origin in (typing.Union, types.UnionType):
        return st.one_of([values_of(a) for a in args])
    if origin is list:
        return st.lists(values_of(args[0]), max_size=3)
    if origin is dict:
        return st.dictionaries(st.text(max_size=8), values_of(args[1]), max_size=3)
    if isinstance(hint, type) and attrs.has(hint):
        hints = typing.get_type_hints(hint, include_extras=True)
        return st.builds(hint, **{f.name: values_of(hints[f.name]) for f in attrs.fields(hint)})
    return st.from_type(hint)


@pytest.mark.parametrize("name", sorted(VIEW_CLASSES))
@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_every_view_class_serializes_to_json_its_schema_accepts(name: str, data: Any) -> None:
    value = data.draw(values_of(VIEW_CLASSES[name]))
    body = json.loads(json.dumps(to_json(value), allow_nan=False))
    assert problems(body, ref(name)) == []
