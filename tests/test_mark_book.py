"""`MarkPriceBook`: a price is fresh for `max_age_s` after we received it, on our clock; the
exchange's timestamps only order prices, so its clock being off cannot make prices stale."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from volspike_oi.mark_book import MarkPriceBook

T0 = 1_791_360_000.0


@given(st.floats(-600, 600), st.floats(0, 59.9))
def test_freshness_follows_our_receive_time_whatever_the_exchange_clock(
    exchange_offset_s: float, age_s: float
) -> None:
    book = MarkPriceBook(max_age_s=60.0)
    book.update("BTCUSDT", Decimal("100"), T0 + exchange_offset_s, received_at=T0)
    assert book.fresh("BTCUSDT", T0 + age_s) == Decimal("100")
    assert book.fresh("BTCUSDT", T0 + 60.1) is None
    assert book.fresh_count(T0 + age_s) == 1


def test_an_older_exchange_price_received_later_does_not_replace_a_newer_one() -> None:
    book = MarkPriceBook()
    book.update("BTCUSDT", Decimal("101"), T0 + 5, received_at=T0 + 5)
    book.update("BTCUSDT", Decimal("100"), T0 + 1, received_at=T0 + 6)
    assert book.fresh("BTCUSDT", T0 + 6) == Decimal("101")
