"""A loader of typed settings from environment variables and flags, for any attrs class.

Owns the field declaration (`setting`), the range checks, the strict string conversion, `load`
and env file rendering; it declares no setting itself and imports nothing of the project.
"""

from __future__ import annotations

import math
import re
import typing
from collections.abc import Callable, Iterable, Mapping
from typing import Any, TypeVar

import attrs
import cattrs

T = TypeVar("T")

_INT_RE = re.compile(r"^[+-]?\d[\d_]*$")
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


class SettingsError(Exception):
    """A setting has a value we cannot run with; the message is one line meant for the operator."""


def setting(
    env: str,
    default: Any,
    help: str,
    *,
    check: Callable[[Any], str | None] | None = None,
    secret: bool = False,
) -> Any:
    """Declare a settings field read from `env`.

    `check(value)` returns None when the value is allowed, else a phrase saying what is allowed
    ("an integer from 1 to 65535"); the loader turns it into the one-line error.
    """
    return attrs.field(
        default=default,
        metadata={"env": env, "help": help, "check": check, "secret": secret},
        repr=not secret,
    )


# -- checks: each returns None when fine, else the allowed range in words ----------------------


def int_between(lo: int, hi: int) -> Callable[[Any], str | None]:
    def check(v: Any) -> str | None:
        return None if lo <= v <= hi else f"an integer from {lo} to {hi}"

    return check


def number_between(lo: float, hi: float, *, lo_open: bool = False) -> Callable[[Any], str | None]:
    def check(v: Any) -> str | None:
        ok = math.isfinite(v) and (v > lo if lo_open else v >= lo) and v <= hi
        return None if ok else f"a number {'>' if lo_open else '≥'} {lo:g} and ≤ {hi:g}"

    return check


def url_with_scheme(*schemes: str) -> Callable[[Any], str | None]:
    def check(v: Any) -> str | None:
        if v is None:
            return None
        if any(v.startswith(f"{s}://") and len(v) > len(s) + 3 for s in schemes):
            return None
        return "a URL starting with " + " or ".join(f"{s}://" for s in schemes)

    return check


_ORIGIN_RE = re.compile(r"^https?://[^/\s,]+$")


def http_origins(v: Any) -> str | None:
    """A tuple of browser origins: scheme and host (and port), no path."""
    bad = [o for o in v if not _ORIGIN_RE.match(o)]
    return None if not bad else f"origins like https://example.com, not {bad[0]!r}"


# -- conversion from strings -------------------------------------------------------------------


def _int_from_str(v: object, _: type) -> int:
    if isinstance(v, bool):
        raise ValueError("expected an integer")
    if isinstance(v, int):
        return v
    if isinstance(v, str) and _INT_RE.match(v.strip()):
        return int(v.strip())
    raise ValueError("expected an integer")


def _float_from_str(v: object, _: type) -> float:
    if isinstance(v, bool):
        raise ValueError("expected a number")
    if isinstance(v, int | float):
        return float(v)
    if isinstance(v, str):
        try:
            out = float(v.strip().replace("_", ""))
        except ValueError:
            pass
        else:
            if math.isfinite(out):
                return out
    raise ValueError("expected a finite number")


def _bool_from_str(v: object, _: type) -> bool:
    if isinstance(v, bool):
        return v
    if isinstance(v, str) and v.strip().lower() in _TRUE | _FALSE:
        return v.strip().lower() in _TRUE
    raise ValueError("expected true or false (1/0, yes/no, on/off)")


def _str_from_str(v: object, _: type) -> str:
    if not isinstance(v, str):
        raise ValueError("expected text")
    return v


def _csv_from_str(v: object, _: type) -> tuple[str, ...]:
    """`a, b,` → ("a", "b"): a comma-separated list; blanks and trailing slashes dropped (an
    origin is written either way in other services' env files)."""
    if isinstance(v, tuple) and all(isinstance(x, str) for x in v):
        return v
    if not isinstance(v, str):
        raise ValueError("expected comma-separated text")
    return tuple(p.strip().rstrip("/") for p in v.split(",") if p.strip().rstrip("/"))


def _is_optional(t: Any) -> bool:
    args = typing.get_args(t)
    return len(args) == 2 and type(None) in args


def _converter() -> cattrs.Converter:
    conv = cattrs.Converter(detailed_validation=True)
    conv.register_structure_hook(int, _int_from_str)
    conv.register_structure_hook(float, _float_from_str)
    conv.register_structure_hook(bool, _bool_from_str)
    conv.register_structure_hook(str, _str_from_str)
    conv.register_structure_hook_func(lambda t: t == tuple[str, ...], _csv_from_str)

    def optional(v: object, t: Any) -> Any:
        # An empty value in an env file means "not set", as `VAR=` does in systemd and shells.
        if v is None or (isinstance(v, str) and v.strip() == ""):
            return None
        inner = next(a for a in typing.get_args(t) if a is not type(None))
        return conv.structure(v, inner)

    conv.register_structure_hook_func(_is_optional, optional)
    return conv


_CONVERTER = _converter()


def _leaf_messages(exc: BaseException) -> list[tuple[str | None, str]]:
    """(attribute name, message) for each leaf error of a cattrs validation group."""
    out: list[tuple[str | None, str]] = []
    if isinstance(exc, BaseExceptionGroup):
        for sub in exc.exceptions:
            name = None
            for note in getattr(sub, "__notes__", []):
                name = getattr(note, "name", None) or name
            for child_name, msg in _leaf_messages(sub):
                out.append((child_name or name, msg))
        return out
    return [(None, str(exc) or type(exc).__name__)]


def load(
    cls: type[T],
    environ: Mapping[str, str],
    flags: Mapping[str, str] | None = None,
) -> T:
    """Build `cls` from `environ` (by each field's env name) and `flags` (by field name).

    Flags win over the environment, the environment over defaults. Raises `SettingsError` with
    one line naming the variable (or flag), the value given and what is allowed, or the first
    problem found by a `cross_check(self) -> str | None` method (checks between fields) of `cls`
    or of any of its bases.
    """
    flags = flags or {}
    raw: dict[str, object] = {}
    source: dict[str, str] = {}
    for field in attrs.fields(cls):  # type: ignore[arg-type]
        env = field.metadata["env"]
        if field.name in flags:
            raw[field.name] = flags[field.name]
            source[field.name] = "--" + field.name.replace("_", "-")
        elif env in environ:
            raw[field.name] = environ[env]
            source[field.name] = env
    try:
        obj = _CONVERTER.structure(raw, cls)
    except cattrs.BaseValidationError as exc:
        name, msg = _leaf_messages(exc)[0]
        if name is None:
            raise SettingsError(f"invalid settings: {msg}") from None
        label = source.get(name, name)
        raise SettingsError(f"{label}={raw.get(name)!r}: {msg}") from None
    for field in attrs.fields(cls):  # type: ignore[arg-type]
        check = field.metadata["check"]
        value = getattr(obj, field.name)
        allowed = check(value) if check is not None and value is not None else None
        if allowed is not None:
            label = source.get(field.name, field.metadata["env"])
            shown = "<hidden>" if field.metadata["secret"] else repr(raw.get(field.name, value))
            raise SettingsError(f"{label}={shown}: must be {allowed}")
    problem = _first_cross_problem(cls, obj)
    if problem:
        raise SettingsError(problem)
    return obj


def _first_cross_problem(cls: type[Any], obj: object) -> str | None:
    """The first problem a `cross_check` method of `cls` or of a base finds, bases first.

    Plain attribute lookup would find only the most derived `cross_check`; calling each class's
    own method lets a group of settings check its fields alone and inside a class composed of it.
    """
    for klass in reversed(cls.__mro__):
        own_check = klass.__dict__.get("cross_check")
        problem = own_check(obj) if own_check is not None else None
        if problem:
            return str(problem)
    return None


def describe(cls: type[Any]) -> list[tuple[str, str, str]]:
    """(env name, default as text, help) per field of `cls`: the rows of an env file."""
    return [_row(field) for field in attrs.fields(cls)]


def groups(cls: type[Any]) -> list[type[Any]]:
    """The attrs classes declaring the fields of `cls`, in the order `attrs.fields(cls)` lists them.

    A class composed of groups by inheritance gives its groups; a class of its own, itself.
    """
    # attrs collects inherited fields walking the MRO backwards; so does this.
    return [
        klass
        for klass in reversed(cls.__mro__)
        if attrs.has(klass) and any(not field.inherited for field in attrs.fields(klass))
    ]


def env_file(header: str, sections: Iterable[tuple[str, type[Any]]]) -> str:
    """An env file: `header`, then per (heading, class) a `# --- heading ---` line followed by
    each field the class declares itself, as its help in a comment over `ENV=default`."""
    blocks = [header.rstrip("\n")]
    for heading, cls in sections:
        rows = [_row(field) for field in attrs.fields(cls) if not field.inherited]
        entries = [f"# {text}\n{env}={default}" for env, default, text in rows]
        blocks.append(f"# --- {heading} ---\n" + "\n\n".join(entries))
    return "\n\n".join(blocks) + "\n"


def _row(field: attrs.Attribute[Any]) -> tuple[str, str, str]:
    if field.default is None:
        default = ""
    elif isinstance(field.default, tuple):
        default = ",".join(field.default)
    else:
        default = str(field.default)
    return (field.metadata["env"], default, field.metadata["help"])
