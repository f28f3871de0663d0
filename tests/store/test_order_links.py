"""Order page links: 128-bit tokens derived from a random nonce, stored only as a hash."""

from __future__ import annotations

import base64
import hashlib

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from store import order_links
from store.models import OrderPageLink, Product
from store.order_links import (
    derive_token,
    find_order_id,
    hash_token,
    is_well_formed,
    page_url,
    revoke,
    subkey,
    token_for_order,
    tokens_for_orders,
)
from tests import factories as f
from tests.factories import NOW

KEY = subkey(b"test secret", "token")
OTHER_KEY = subkey(b"another secret", "token")


def _order(session: Session, number: str = "A1") -> int:
    if session.scalar(select(Product.id).where(Product.sku == "MUG")) is None:
        f.product(session, "MUG")
    return f.order(session, number, [("MUG", 1)]).id


def test_token_is_128_bits_of_base64url() -> None:
    token = derive_token(KEY, 1, "00" * 16)
    assert len(token) == 22
    assert is_well_formed(token)
    assert len(base64.urlsafe_b64decode(token + "==")) == 16


def test_each_order_gets_its_own_random_nonce_and_token(session: Session) -> None:
    first, second = _order(session, "A1"), _order(session, "A2")
    tokens = tokens_for_orders(session, [first, second], KEY, NOW)
    assert tokens[first] != tokens[second]
    nonces = session.scalars(select(OrderPageLink.nonce)).all()
    assert len(set(nonces)) == 2
    assert all(len(bytes.fromhex(nonce)) == 16 for nonce in nonces)


def test_the_same_order_gets_the_same_token_for_every_message(session: Session) -> None:
    order_id = _order(session)
    first = token_for_order(session, order_id, KEY, NOW)
    assert token_for_order(session, order_id, KEY, NOW) == first
    assert len(session.scalars(select(OrderPageLink)).all()) == 1


def test_only_the_hash_of_the_token_is_stored(session: Session) -> None:
    order_id = _order(session)
    token = token_for_order(session, order_id, KEY, NOW)
    row = session.scalars(select(OrderPageLink)).one()
    assert row.token_hash == hashlib.sha256(token.encode()).hexdigest()
    stored = [str(getattr(row, column.key)) for column in OrderPageLink.__table__.columns]
    assert not any(token in value for value in stored)


def test_a_token_opens_its_order(session: Session) -> None:
    order_id = _order(session)
    token = token_for_order(session, order_id, KEY, NOW)
    assert find_order_id(session, token) == order_id


def test_unknown_and_malformed_tokens_open_nothing(session: Session) -> None:
    token = token_for_order(session, _order(session), KEY, NOW)
    for bad in ("", "short", token + "A", token[:-1], token + "=", "é" * 22, "A" * 22, "../" * 8):
        assert find_order_id(session, bad) is None, bad


def test_a_revoked_token_opens_nothing_and_the_next_message_gets_a_new_one(
    session: Session,
) -> None:
    order_id = _order(session)
    old = token_for_order(session, order_id, KEY, NOW)
    assert revoke(session, order_id, NOW)
    assert not revoke(session, order_id, NOW)  # nothing live left to revoke
    assert find_order_id(session, old) is None
    new = token_for_order(session, order_id, KEY, NOW)
    assert new != old
    assert find_order_id(session, new) == order_id
    assert find_order_id(session, old) is None


def test_a_new_key_reissues_the_link_with_the_next_message(session: Session) -> None:
    order_id = _order(session)
    old = token_for_order(session, order_id, KEY, NOW)
    new = token_for_order(session, order_id, OTHER_KEY, NOW)
    assert new != old
    assert find_order_id(session, new) == order_id
    assert find_order_id(session, old) is None
    assert token_for_order(session, order_id, OTHER_KEY, NOW) == new


def test_tokens_depend_on_the_key() -> None:
    assert derive_token(KEY, 1, "ab" * 16) != derive_token(OTHER_KEY, 1, "ab" * 16)
    assert hash_token("x") == hashlib.sha256(b"x").hexdigest()


def test_page_url_joins_base_and_token() -> None:
    assert page_url("https://shop.example/", "T" * 22) == "https://shop.example/o/" + "T" * 22


def test_a_link_another_writer_inserted_first_is_the_one_used(
    session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Between our look-up (nothing yet) and our insert, another worker linked the order: its
    link stands (the insert conflicts and returns nothing) and its token is the one given."""
    first_order, second_order = _order(session, "A1"), _order(session, "A2")
    theirs = token_for_order(session, first_order, KEY, NOW)
    real_links = order_links._links
    calls: list[list[int]] = []

    def stale_first_look(s: Session, order_ids: list[int]) -> dict[int, object]:
        calls.append(order_ids)
        return {} if len(calls) == 1 else real_links(s, order_ids)

    monkeypatch.setattr(order_links, "_links", stale_first_look)
    tokens = tokens_for_orders(session, [first_order, second_order], KEY, NOW)
    assert tokens[first_order] == theirs
    assert calls[1:] == [[first_order]]  # only the order that lost is read again
    assert len(session.scalars(select(OrderPageLink)).all()) == 2
