"""Search by every key an agent types: phone in any format, name, order number, SKU."""

from __future__ import annotations

import pytest
from sqlalchemy.orm import Session

from store.search import search
from tests import factories as f


@pytest.fixture
def shop(session: Session) -> Session:
    f.product(session, "MUG-RED")
    f.product(session, "OVEN")
    ada = f.customer(session, "Ada Lovelace", phone="+14155550101")
    grace = f.customer(session, "Grace Hopper", phone="+14155550199")
    f.customer(session, "Alan Turing", phone="+442079460018")
    f.order(session, "A-1001", [("MUG-RED", 1)], who=ada)
    f.order(session, "B-2002", [("OVEN", 1)], who=grace)
    f.order(session, "B-2003", [("MUG-RED", 2)], who=grace)
    return session


def names(session: Session, query: str, region: str | None = "US") -> list[str]:
    return [hit.name for hit in search(session, query, default_region=region).hits]


@pytest.mark.parametrize(
    "typed",
    ["+14155550101", "+1 415 555 0101", "(415) 555-0101", "415.555.0101", "1-415-555-0101"],
)
def test_it_finds_a_customer_by_phone_in_any_format(shop: Session, typed: str) -> None:
    result = search(shop, typed, default_region="US")
    assert [(h.name, h.matched) for h in result.hits] == [("Ada Lovelace", "phone")]


def test_it_finds_a_foreign_number_typed_in_international_format(shop: Session) -> None:
    assert names(shop, "+44 20 7946 0018") == ["Alan Turing"]


def test_a_national_number_with_a_trunk_prefix_finds_its_e164_number(shop: Session) -> None:
    # "020..." is not a run of digits inside "+4420...": only normalising finds it.
    assert names(shop, "020 7946 0018", region="GB") == ["Alan Turing"]


def test_it_finds_customers_by_the_last_digits_of_their_phone(shop: Session) -> None:
    assert names(shop, "555-01") == ["Ada Lovelace", "Grace Hopper"]


def test_too_few_digits_match_no_phone(shop: Session) -> None:
    assert names(shop, "01") == []


def test_it_finds_customers_by_part_of_their_name_in_any_case(shop: Session) -> None:
    assert names(shop, "hOPP") == ["Grace Hopper"]
    assert names(shop, "a") == ["Ada Lovelace", "Alan Turing", "Grace Hopper"]


def test_a_percent_sign_in_a_name_search_is_not_a_wildcard(shop: Session) -> None:
    f.customer(shop, "100% Real Ltd")
    assert names(shop, "%") == ["100% Real Ltd"]
    assert names(shop, "_") == []


def test_it_finds_the_customer_of_an_order_number_in_any_case(shop: Session) -> None:
    result = search(shop, "#b-2002")
    assert [(h.name, h.matched, h.detail) for h in result.hits] == [
        ("Grace Hopper", "order", "B-2002")
    ]
    assert result.order_number == "B-2002"


def test_it_finds_everyone_who_ordered_a_sku(shop: Session) -> None:
    result = search(shop, "mug-red")
    assert result.sku == "MUG-RED"
    assert [(h.name, h.matched) for h in result.hits] == [
        ("Ada Lovelace", "sku"),
        ("Grace Hopper", "sku"),
    ]


def test_a_customer_found_by_two_keys_is_listed_once_under_the_stronger(shop: Session) -> None:
    f.customer(shop, "A-1001 Fan Club")  # a name that is also an order number
    result = search(shop, "A-1001")
    assert [(h.name, h.matched) for h in result.hits] == [
        ("Ada Lovelace", "order"),
        ("A-1001 Fan Club", "name"),
    ]


def test_an_empty_query_finds_nobody(shop: Session) -> None:
    assert search(shop, "   ").hits == []


def test_results_are_capped_and_say_so(shop: Session) -> None:
    for i in range(5):
        f.customer(shop, f"Twin {i}")
    result = search(shop, "twin", limit=3)
    assert len(result.hits) == 3
    assert result.truncated
