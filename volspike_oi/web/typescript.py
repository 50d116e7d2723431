"""TypeScript declarations for the frontend, rendered from the OpenAPI document (`make types`).

`render` turns `components/schemas` into `export interface`/`export type` declarations and the
paths into one `Endpoints` map (query, body and responses by status per route). It knows only
the JSON Schema keywords `SPEC` uses; `tests/web/test_openapi.py` fails when the checked-in
`clients/typescript/volspike-oi.d.ts` differs from what this renders.
"""

from __future__ import annotations

import json
import re
import sys
import textwrap
from collections.abc import Sequence
from pathlib import Path
from typing import Any

HEADER = "// generated from /openapi.json by `make types`; do not edit"
OUTPUT = Path(__file__).resolve().parents[2] / "clients" / "typescript" / "volspike-oi.d.ts"
"""Where `make types` writes, relative to the repository."""

HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
INDENT = "  "
WIDTH = 100
_IDENTIFIER = re.compile(r"^[A-Za-z_$][A-Za-z0-9_$]*$")

Schema = dict[str, Any]


def render(spec: Schema) -> str:
    """The `.d.ts` text for `spec`: deterministic, in the spec's own order."""
    info = spec["info"]
    lines = [HEADER, f"// {info['title']} {info['version']} (OpenAPI {spec['openapi']})", ""]
    for name, schema in spec["components"]["schemas"].items():
        lines += _declaration(name, schema)
        lines.append("")
    lines += _endpoints(spec)
    return "\n".join(lines) + "\n"


def _declaration(name: str, schema: Schema) -> list[str]:
    lines = _doc(schema.get("description"), "")
    if schema.get("type") == "object" and "properties" in schema:
        lines.append(f"export interface {name} {{")
        lines += _members(schema, INDENT)
        lines.append("}")
    else:
        line = f"export type {name} = {_type(schema, '')};"
        variants = schema.get("oneOf") or schema.get("anyOf")
        if len(line) > WIDTH and variants:  # one variant a line, as prettier writes it
            line = "\n".join(
                [f"export type {name} =", *(f"{INDENT}| {_type(v, INDENT)}" for v in variants)]
            )
            line += ";"
        lines.append(line)
    return lines


def _members(schema: Schema, indent: str) -> list[str]:
    extra = schema.get("additionalProperties")
    if extra not in (None, False, True):
        raise ValueError("an object with both properties and typed additionalProperties")
    required = set(schema.get("required", ()))
    lines: list[str] = []
    if extra is True:  # an open request body: the server ignores members it does not know
        lines.append(f"{indent}[member: string]: unknown;")
    for name, prop in schema["properties"].items():
        lines += _doc(prop.get("description"), indent)
        mark = "" if name in required else "?"
        lines.append(f"{indent}{_key(name)}{mark}: {_type(prop, indent)};")
    return lines


def _type(schema: Schema, indent: str) -> str:
    """The TypeScript type of `schema`; `indent` is that of the line it starts on."""
    if "$ref" in schema:
        return str(schema["$ref"]).rsplit("/", 1)[-1]
    for combinator in ("oneOf", "anyOf"):
        if combinator in schema:
            return _union(_type(s, indent) for s in schema[combinator])
    if "const" in schema:
        return json.dumps(schema["const"])
    if "enum" in schema:
        return _union(json.dumps(value) for value in schema["enum"])
    kinds = schema.get("type")
    if kinds is None:
        return "unknown"
    if isinstance(kinds, str):
        kinds = [kinds]
    return _union(_single(kind, schema, indent) for kind in kinds)


def _single(kind: str, schema: Schema, indent: str) -> str:
    if kind in ("number", "integer"):
        return "number"
    if kind in ("string", "boolean", "null"):
        return kind
    if kind == "array":
        item = _type(schema.get("items", {}), indent)
        return f"({item})[]" if " | " in item else f"{item}[]"
    if kind == "object":
        if "properties" in schema:
            inner = indent + INDENT
            return "{\n" + "\n".join(_members(schema, inner)) + f"\n{indent}}}"
        values = schema.get("additionalProperties", True)
        if values is True or values == {}:
            return "Record<string, unknown>"
        if values is False:
            return "Record<string, never>"
        return f"Record<string, {_type(values, indent)}>"
    raise ValueError(f"unsupported JSON Schema type {kind!r}")


def _union(members: Any) -> str:
    unique = list(dict.fromkeys(members))
    return " | ".join(unique)


def _key(name: str) -> str:
    return name if _IDENTIFIER.match(name) else json.dumps(name)


def _doc(text: str | None, indent: str) -> list[str]:
    if not text:
        return []
    text = " ".join(text.split()).replace("*/", "*\\/")
    if len(indent) + len(text) + 7 <= WIDTH:
        return [f"{indent}/** {text} */"]
    wrapped = textwrap.wrap(text, width=WIDTH - len(indent) - 3, break_on_hyphens=False)
    return [f"{indent}/**", *(f"{indent} * {line}" for line in wrapped), f"{indent} */"]


def _resolve(spec: Schema, obj: Schema) -> Schema:
    """Follow a local `$ref` (`#/components/responses/BadRequest`) to its object."""
    while "$ref" in obj:
        node: Any = spec
        for part in str(obj["$ref"]).removeprefix("#/").split("/"):
            node = node[part]
        obj = node
    return obj


def _endpoints(spec: Schema) -> list[str]:
    """`Endpoints["GET /path/{name}"]`: each HTTP route's path parameters, query, body and
    responses by status."""
    lines = [
        "/** Every HTTP route (`METHOD /path`): query parameters, JSON body, responses by status. */",
        "export interface Endpoints {",
    ]
    member, field = INDENT * 2, INDENT * 3
    for path, item in spec["paths"].items():
        for method, op in item.items():
            if method not in HTTP_METHODS or "x-websocket" in op:
                continue  # the WebSocket is typed by WsClientOp / WsServerEvent
            lines += _doc(op.get("summary"), INDENT)
            lines.append(f"{INDENT}{json.dumps(f'{method.upper()} {path}')}: {{")
            for where in ("path", "query"):
                params = [p for p in op.get("parameters", ()) if _resolve(spec, p)["in"] == where]
                if not params:
                    continue
                lines.append(f"{member}{where}: {{")
                for raw in params:
                    param = _resolve(spec, raw)
                    lines += _doc(param.get("description"), field)
                    mark = "" if param.get("required") else "?"
                    lines.append(
                        f"{field}{_key(param['name'])}{mark}: {_type(param['schema'], field)};"
                    )
                lines.append(f"{member}}};")
            if "requestBody" in op:
                body = _resolve(spec, op["requestBody"])["content"]["application/json"]
                lines.append(f"{member}body: {_type(body['schema'], member)};")
            lines.append(f"{member}responses: {{")
            for status, raw in op["responses"].items():
                lines.append(f"{field}{status}: {_response_type(_resolve(spec, raw), field)};")
            lines.append(f"{member}}};")
            lines.append(f"{INDENT}}};")
    lines.append("}")
    return lines


def _response_type(response: Schema, indent: str) -> str:
    content = response.get("content")
    if not content:
        return "void"
    return _union(_type(media.get("schema", {}), indent) for media in content.values())


def main(argv: Sequence[str] = ()) -> None:
    from volspike_oi.web.openapi import SPEC

    target = Path(argv[0]) if argv else OUTPUT
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(render(SPEC), encoding="utf-8")
    print(f"wrote {target}")


if __name__ == "__main__":
    main(sys.argv[1:])
