"""The one error a request handler raises for bad input (answered 400 naming the field), and
`ApiError`, the body of every 4xx/5xx answer."""

from __future__ import annotations

import attrs

from volspike_oi.wire import ABSENT, Absent, described


class BadRequest(ValueError):
    """The request cannot be used as sent; `field` names the culprit (`data[3].openInterest`,
    `limit`), `message` says what is allowed. Nothing has been stored."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field, self.message = field, message


@attrs.frozen
class ApiError:
    """Every 4xx/5xx answer of the JSON API."""

    error: str = attrs.field(metadata=described("What is wrong, for a person to read."))
    field: str | Absent = attrs.field(
        default=ABSENT,
        metadata=described(
            "The offending field as a path (`data[3].openInterest`, `limit`); `$` for the body "
            "as a whole. Absent when no one field is to blame."
        ),
    )
