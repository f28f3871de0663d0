"""Audience filters: each alone, combined, and one row per customer."""

import datetime as dt

import pytest

from store import audience
from store.audience import AudienceFilter
from store.db import Database
from store.errors import InvalidInput
from store.models import Channel, LineStatus
from tests.factories import NOW
from tests.messaging.broadcast_shop import Shop, build

SKU_A_WAITING = {"ada", "carl", "dora", "eli", "fay", "gus", "hana"}


@pytest.fixture
def shop(committed_db: Database) -> Shop:
    return build(committed_db)


def _names(db: Database, shop: Shop, filters: AudienceFilter) -> set[str]:
    by_id = {v: k for k, v in shop.ids.items()}
    with db.read_session() as session:
        rows = [row for chunk in audience.stream(session, filters, NOW, chunk=2) for row in chunk]
    ids = [row.customer_id for row in rows]
    assert len(ids) == len(set(ids)), "one row per customer"
    assert ids == sorted(ids), "customer-id order, for resuming"
    return {by_id[i] for i in ids}


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        (AudienceFilter(), {*SKU_A_WAITING, "bea"}),
        (AudienceFilter(sku="SKU-B"), {"ada", "bea"}),
        (AudienceFilter(supplier="Beta Goods"), {"ada", "bea"}),
        (AudienceFilter(supplier="Acme Supply"), SKU_A_WAITING),
        (AudienceFilter(status=LineStatus.ALLOCATED), {"ivan"}),
        (AudienceFilter(waiting_days_min=20), {"ada"}),
        (AudienceFilter(waiting_days_min=7), {"ada", "bea"}),
        (AudienceFilter(eta_before=dt.date(2026, 12, 15)), SKU_A_WAITING),
        (AudienceFilter(eta_after=dt.date(2026, 12, 15)), {"ada", "bea"}),
        (AudienceFilter(locale="es"), {"bea"}),
        (AudienceFilter(locale="es-MX"), {"bea"}),
        (AudienceFilter(channel=Channel.TELEGRAM), {"carl", "eli"}),
        (AudienceFilter(channel=Channel.SMS), SKU_A_WAITING - {"carl", "gus"} | {"bea"}),
        (AudienceFilter(sku="SKU-A", waiting_days_min=30, locale="en"), {"ada"}),
        (AudienceFilter(sku="SKU-B", locale="en"), {"ada"}),
        (AudienceFilter(sku="NOPE"), set()),
    ],
)
def test_filters_select_customers(
    committed_db: Database, shop: Shop, filters: AudienceFilter, expected: set[str]
) -> None:
    assert _names(committed_db, shop, filters) == expected


def test_a_customer_waiting_on_two_lines_is_counted_once(
    committed_db: Database, shop: Shop
) -> None:
    with committed_db.read_session() as session:
        assert audience.count(session, AudienceFilter(), NOW) == len(SKU_A_WAITING) + 1


def test_resuming_after_a_customer_skips_those_before(committed_db: Database, shop: Shop) -> None:
    with committed_db.read_session() as session:
        rows = [
            row
            for chunk in audience.stream(
                session, AudienceFilter(), NOW, after_customer_id=shop.ids["dora"]
            )
            for row in chunk
        ]
    assert all(row.customer_id > shop.ids["dora"] for row in rows)
    assert shop.ids["eli"] in {row.customer_id for row in rows}


def test_the_representative_line_carries_order_and_coupon(
    committed_db: Database, shop: Shop
) -> None:
    with committed_db.read_session() as session:
        (ada,) = next(
            audience.stream(session, AudienceFilter(sku="SKU-A", waiting_days_min=30), NOW)
        )
    assert (ada.order_number, ada.sku, ada.coupon) == ("N-ada", "SKU-A", "WAIT-ADA12345")
    assert ada.eta == dt.date(2026, 12, 1)


def test_filters_round_trip_through_json() -> None:
    filters = AudienceFilter(sku="X", eta_before=dt.date(2027, 1, 1), channel=Channel.SMS)
    assert AudienceFilter.from_json(filters.to_json()) == filters


def test_contradictory_eta_range_is_refused() -> None:
    with pytest.raises(InvalidInput, match="eta_after"):
        AudienceFilter(eta_before=dt.date(2026, 1, 1), eta_after=dt.date(2026, 2, 1))
