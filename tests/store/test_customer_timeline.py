"""A customer's one timeline: every channel in and out, choices, links and refunds, newest
first, and keyset pages that never skip or repeat an entry."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from store.customer_timeline import Entry, timeline
from store.errors import InvalidInput
from store.models import (
    Channel,
    Customer,
    DeliveryAttempt,
    InboundMessage,
    Offer,
    OfferChoice,
    OutboxMessage,
    OutboxStatus,
)
from store.offers import accept_offer
from store.order_links import revoke, token_for_order
from store.policy import DEFAULT_POLICY
from tests import factories as f

NOW = f.NOW
KEY = b"k" * 32


def hours(n: float) -> dt.datetime:
    return NOW + dt.timedelta(hours=n)


def inbound(session: Session, who: Customer, body: str, at: dt.datetime, n: int) -> None:
    session.add(
        InboundMessage(
            channel=Channel.SMS,
            provider_id=f"SM{who.id}-{n}",
            sender=who.phone or "",
            body=body,
            received_at=at,
            customer_id=who.id,
        )
    )


def outbox(session: Session, who: Customer, body: str, at: dt.datetime, **kw: object) -> int:
    row = OutboxMessage(
        dedupe_key=f"test:{who.id}:{body}:{at.isoformat()}",
        customer_id=who.id,
        channel=Channel.SMS,
        address=who.phone or "",
        message="backordered",
        locale="en",
        body=body,
        created_at=at,
        **kw,
    )
    session.add(row)
    session.flush()
    return row.id


@pytest.fixture
def ada(session: Session) -> Customer:
    """Ada's history: she writes, a message fails, she cancels by SMS, a link comes and goes."""
    f.product(session, "OVEN", price_cents=5_000)
    ada = f.customer(session, "Ada Lovelace")
    order = f.order(session, "A1", [("OVEN", 1)], who=ada)
    inbound(session, ada, "where is my oven?", hours(1), 1)
    failed = outbox(
        session,
        ada,
        "Your oven is late.",
        hours(2),
        status=OutboxStatus.FAILED,
        last_error="21211: invalid number",
    )
    session.add(DeliveryAttempt(outbox_id=failed, attempt=1, worker="w", outcome="failed"))
    offer = session.scalars(select(Offer).where(Offer.customer_id == ada.id)).one()
    accept_offer(
        session, offer.id, OfferChoice.CANCEL, via="sms", now=hours(3), policy=DEFAULT_POLICY
    )
    token_for_order(session, order.id, KEY, hours(4))
    revoke(session, order.id, hours(5))
    other = f.customer(session, "Grace Hopper")  # her messages are not Ada's
    inbound(session, other, "not ada", hours(6), 2)
    session.flush()
    return ada


def test_the_timeline_holds_every_kind_newest_first(session: Session, ada: Customer) -> None:
    entries = timeline(session, ada.id).entries
    assert [(e.kind, e.at) for e in entries] == [
        ("link_revoked", hours(5)),
        ("link_issued", hours(4)),
        ("refund", hours(3)),
        ("choice", hours(3)),
        ("outbound", hours(2)),
        ("inbound", hours(1)),
    ]


def test_each_entry_says_what_happened(session: Session, ada: Customer) -> None:
    by_kind = {e.kind: e for e in timeline(session, ada.id).entries}
    assert by_kind["inbound"].text == "where is my oven?"
    assert by_kind["inbound"].status == "unhandled"
    out = by_kind["outbound"]
    assert (out.status, out.error, out.channel) == ("failed", "21211: invalid number", "sms")
    choice = by_kind["choice"]
    assert (choice.choice, choice.via, choice.order_number, choice.sku) == (
        "cancel",
        "sms",
        "A1",
        "OVEN",
    )
    refund = by_kind["refund"]
    assert (refund.amount_minor, refund.currency, refund.status) == (5_000, "USD", "due")
    assert by_kind["link_revoked"].order_number == "A1"


def test_an_expired_offer_shows_the_expiry_as_who_chose(session: Session) -> None:
    f.product(session, "OVEN")
    who = f.customer(session)
    f.order(session, "E1", [("OVEN", 1)], who=who)
    from store.offers import expire_offers

    expire_offers(session, NOW + DEFAULT_POLICY.offer_ttl, DEFAULT_POLICY)
    [choice] = [e for e in timeline(session, who.id).entries if e.kind == "choice"]
    assert (choice.via, choice.status) == ("expiry", "expired")


def test_a_retrys_reason_shows_until_an_attempt_goes_through(
    session: Session, ada: Customer
) -> None:
    pending = outbox(session, ada, "retrying", hours(7), status=OutboxStatus.PENDING)
    session.add(
        DeliveryAttempt(
            outbox_id=pending, attempt=1, worker="w", outcome="retry", reason="rate_limited"
        )
    )
    session.flush()
    assert timeline(session, ada.id).entries[0].error == "rate_limited"
    session.add(DeliveryAttempt(outbox_id=pending, attempt=2, worker="w", outcome="sent"))
    session.flush()
    assert timeline(session, ada.id).entries[0].error is None


def walk(session: Session, customer_id: int, limit: int) -> list[Entry]:
    seen: list[Entry] = []
    before = None
    while True:
        page = timeline(session, customer_id, before=before, limit=limit)
        seen += page.entries
        if page.next_cursor is None:
            return seen
        before = page.next_cursor


@pytest.mark.parametrize("limit", [1, 7, 50, 200])
def test_pages_neither_skip_nor_repeat_entries_sharing_a_timestamp(
    session: Session, limit: int
) -> None:
    who = f.customer(session)
    same = hours(1)  # the outbox and inbound ids overlap: (at, kind, id) must break the ties
    session.execute(
        insert(InboundMessage),
        [
            {
                "channel": Channel.SMS,
                "provider_id": f"SMx{i}",
                "sender": who.phone,
                "body": f"in {i}",
                "received_at": same if i % 2 else hours(i),
                "customer_id": who.id,
            }
            for i in range(30)
        ],
    )
    for i in range(30):
        outbox(session, who, f"out {i}", same if i % 3 else hours(i / 2))
    entries = walk(session, who.id, limit)
    keys = [e.cursor for e in entries]
    assert len(keys) == 60
    assert len(set(keys)) == 60
    assert keys == sorted(keys, reverse=True)


def test_an_entry_added_while_paging_appears_only_on_the_first_page(
    session: Session, ada: Customer
) -> None:
    first = timeline(session, ada.id, limit=3)
    inbound(session, ada, "a new text", hours(9), 99)
    session.flush()
    rest = walk_from(session, ada.id, first.next_cursor)
    assert [e.kind for e in first.entries + rest] == [
        "link_revoked",
        "link_issued",
        "refund",
        "choice",
        "outbound",
        "inbound",
    ]
    assert timeline(session, ada.id).entries[0].text == "a new text"


def walk_from(session: Session, customer_id: int, cursor: str | None) -> list[Entry]:
    assert cursor is not None
    page = timeline(session, customer_id, before=cursor, limit=200)
    assert page.next_cursor is None
    return page.entries


@pytest.mark.parametrize(
    "cursor",
    [
        "",
        "nonsense",
        "bm9ub25zZW5zZQ",
        "MjAyNnxpbmJvdW5kfDE",
        "OTk5OS0xMi0zMVQyMzo1OTo1OS0wNTowMHxpbmJvdW5kfDE",  # 9999-12-31T23:59:59-05:00
        "MDAwMS0wMS0wMVQwMDowMDowMCswNTowMHxpbmJvdW5kfDE",  # 0001-01-01T00:00+05:00
    ],
)
def test_a_cursor_not_made_here_is_refused(session: Session, ada: Customer, cursor: str) -> None:
    with pytest.raises(InvalidInput):
        timeline(session, ada.id, before=cursor)


def test_a_customer_without_history_has_an_empty_timeline(session: Session) -> None:
    page = timeline(session, f.customer(session).id)
    assert page.entries == []
    assert page.next_cursor is None


def test_a_text_not_handled_yet_shows_by_its_sender(session: Session, ada: Customer) -> None:
    """A text is logged before it is handled, without a customer: a crash in between (or a
    handler still at work) must not hide what the customer wrote."""
    ada.telegram_chat_id = 4_000_000_001
    rows = [
        (Channel.SMS, ada.phone, "sms not handled"),
        (Channel.TELEGRAM, "4000000001", "telegram not handled"),
        (Channel.SMS, "+14155559999", "someone else"),
        (Channel.TELEGRAM, ada.phone, "a chat id that is not hers"),
    ]
    for n, (channel, sender, body) in enumerate(rows):
        session.add(
            InboundMessage(
                channel=channel,
                provider_id=f"unhandled-{n}",
                sender=sender or "",
                body=body,
                received_at=hours(10 + n),
                customer_id=None,
            )
        )
    session.flush()
    texts = [e.text for e in timeline(session, ada.id).entries if e.kind == "inbound"]
    assert texts == ["telegram not handled", "sms not handled", "where is my oven?"]
