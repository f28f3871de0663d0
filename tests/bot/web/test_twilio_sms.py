"""``POST /webhooks/twilio/sms``: signed requests in, TwiML out, each message handled once."""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Awaitable, Callable
from urllib.parse import urlencode
from xml.etree import ElementTree

import httpx
import pytest
from sqlalchemy import func, select
from twilio.request_validator import RequestValidator

from messaging.notifier import ShopVoice, notify_pending
from store.db import Database
from store.models import (
    Customer,
    InboundMessage,
    LineStatus,
    Order,
    OutboxMessage,
    ReachState,
    utcnow,
)
from store.tables_inbox import InboxItem, InboxKind, InboxMessage
from tests import factories as f
from tests.bot.web.conftest import FORM, PUBLIC_BASE_URL, Params, sign

PATH = "/webhooks/twilio/sms"
URL = PUBLIC_BASE_URL + PATH
ACCOUNT = "AC" + "0" * 32
SHOP_NUMBER = "+14155550100"
PHONE = "+14155550177"
SPANISH_PHONE = "+34612345678"
ETA = dt.date(2026, 12, 15)

PostSms = Callable[..., Awaitable[httpx.Response]]

pytestmark = pytest.mark.asyncio


def inbound_form(body: str, sender: str = PHONE, **extra: str) -> list[tuple[str, str]]:
    """The fields Twilio posts for an inbound SMS (as in its webhook documentation)."""
    sid = "SM" + secrets.token_hex(16)
    fields = {
        "ToCountry": "US",
        "SmsMessageSid": sid,
        "NumMedia": "0",
        "SmsSid": sid,
        "SmsStatus": "received",
        "Body": body,
        "To": SHOP_NUMBER,
        "NumSegments": "1",
        "MessageSid": sid,
        "AccountSid": ACCOUNT,
        "From": sender,
        "ApiVersion": "2010-04-01",
    }
    fields.update(extra)
    return list(fields.items())


@pytest.fixture
def post_sms(client: httpx.AsyncClient) -> PostSms:
    async def post(params: Params, *, signature: str | None = None) -> httpx.Response:
        headers = {**FORM, "X-Twilio-Signature": signature or sign(URL, params)}
        return await client.post(PATH, content=urlencode(list(params)), headers=headers)

    return post


@pytest.fixture
def backordered(committed_db: Database) -> None:
    """Two customers, English and Spanish, each waiting for MUG with an alternative in stock.

    Placed now: the webhook runs on the real clock, and their offers must still be open.
    """
    now = utcnow()
    with committed_db.session() as session:
        f.product(session, "MUG-ALT", stock=10, category="mugs")
        f.product(session, "MUG", eta=ETA, category="mugs", alternatives=("MUG-ALT",))
        ada = f.customer(session, phone=PHONE)
        f.order(session, "A1001", [("MUG", 1)], who=ada, placed_at=now)
        maria = f.customer(session, "María José", phone=SPANISH_PHONE)
        maria.locale = "es"
        f.order(session, "A1002", [("MUG", 1)], who=maria, placed_at=now)


def message_of(response: httpx.Response) -> str | None:
    """The text of the TwiML ``<Message>``, or None for an empty ``<Response/>``."""
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/xml")
    root = ElementTree.fromstring(response.text)
    assert root.tag == "Response"
    messages = root.findall("Message")
    assert len(messages) <= 1
    return messages[0].text if messages else None


def inbound_rows(db: Database) -> int:
    with db.read_session() as session:
        return session.scalar(select(func.count()).select_from(InboundMessage)) or 0


async def test_twilio_published_signature_vector_verifies() -> None:
    # Twilio's published example (docs "Webhooks security"; TwilioDevEd/api-snippets).
    params = {
        "CallSid": "CA1234567890ABCDE",
        "Caller": "+14158675309",
        "Digits": "1234",
        "From": "+14158675309",
        "To": "+18005551212",
    }
    url = "https://mycompany.com/myapp.php?foo=1&bar=2"
    expected = "RSOYDt4T1cUTdK1PDd93/VVr8B8="
    assert RequestValidator("12345").compute_signature(url, params) == expected
    assert sign(url, list(params.items()), token="12345") == expected


async def test_status_question_is_answered_with_the_order_in_twiml(
    post_sms: PostSms, backordered: None
) -> None:
    text = message_of(await post_sms(inbound_form("where is my order?")))
    assert text is not None
    assert "A1001" in text
    assert "on backorder, due Dec 15, 2026" in text


async def test_spanish_customer_is_answered_in_spanish(
    post_sms: PostSms, backordered: None
) -> None:
    text = message_of(await post_sms(inbound_form("¿dónde está mi pedido?", SPANISH_PHONE)))
    assert text is not None
    assert "A1002" in text
    assert "pedido" in text


@pytest.mark.parametrize(
    "signature", ["", "bm90IGEgc2lnbmF0dXJl", sign(URL, [("Body", "other")])], ids=str
)
async def test_a_badly_signed_message_gets_403_and_changes_nothing(
    client: httpx.AsyncClient, committed_db: Database, backordered: None, signature: str
) -> None:
    params = inbound_form("2")
    headers = {**FORM}
    if signature:
        headers["X-Twilio-Signature"] = signature
    response = await client.post(PATH, content=urlencode(params), headers=headers)
    assert response.status_code == 403
    assert inbound_rows(committed_db) == 0
    with committed_db.read_session() as session:
        order = session.scalars(select(Order).where(Order.number == "A1001")).one()
        assert order.lines[0].status == LineStatus.BACKORDERED


async def test_a_message_signed_for_http_instead_of_https_gets_403(
    client: httpx.AsyncClient, committed_db: Database
) -> None:
    params = inbound_form("STATUS")
    signature = sign(URL.replace("https://", "http://"), params)
    headers = {**FORM, "X-Twilio-Signature": signature}
    response = await client.post(PATH, content=urlencode(params), headers=headers)
    assert response.status_code == 403
    assert inbound_rows(committed_db) == 0


async def test_a_repeated_message_sid_is_handled_once(
    post_sms: PostSms, committed_db: Database, backordered: None
) -> None:
    params = inbound_form("STATUS")
    assert message_of(await post_sms(params)) is not None
    assert message_of(await post_sms(params)) is None  # Twilio's retry: nothing more to say
    assert inbound_rows(committed_db) == 1


async def test_a_stop_twilio_already_answered_is_recorded_without_a_second_answer(
    post_sms: PostSms, committed_db: Database, backordered: None
) -> None:
    assert message_of(await post_sms(inbound_form("Stop", OptOutType="STOP"))) is None
    with committed_db.read_session() as session:
        customer = session.scalars(select(Customer).where(Customer.phone == PHONE)).one()
        assert customer.sms_state == ReachState.OPTED_OUT


async def test_start_after_stop_opts_back_in(
    post_sms: PostSms, committed_db: Database, backordered: None
) -> None:
    await post_sms(inbound_form("STOP"))
    text = message_of(await post_sms(inbound_form("unstop")))
    assert text is not None
    assert "subscribed again" in text
    with committed_db.read_session() as session:
        customer = session.scalars(select(Customer).where(Customer.phone == PHONE)).one()
        assert customer.sms_state == ReachState.ACTIVE


async def test_help_names_the_shop_and_says_rates_may_apply(
    post_sms: PostSms, backordered: None
) -> None:
    text = message_of(await post_sms(inbound_form("help")))
    assert text is not None
    assert "Msg & data rates may apply" in text


async def test_a_messaging_service_payload_is_handled(post_sms: PostSms, backordered: None) -> None:
    params = inbound_form("STATUS", MessagingServiceSid="MG" + "1" * 32)
    assert "A1001" in (message_of(await post_sms(params)) or "")


@pytest.mark.parametrize(
    "body",
    [
        "x" * 10_000,
        "🙂🙃" * 800,
        "مرحبا، أين طلبي؟",  # right-to-left
        "\u202etxet desrever\u202c",
        "",
        "\x00\x01 nul",
    ],
    ids=["10k", "emoji", "rtl", "bidi-override", "empty", "control"],
)
async def test_hostile_bodies_get_200_and_a_short_safe_answer(
    post_sms: PostSms, backordered: None, body: str
) -> None:
    text = message_of(await post_sms(inbound_form(body)))
    assert text is not None
    assert len(text) <= 1600


async def test_a_form_without_from_gets_an_empty_answer_and_logs_nothing(
    post_sms: PostSms, committed_db: Database
) -> None:
    params = [(k, v) for k, v in inbound_form("STATUS") if k != "From"]
    assert message_of(await post_sms(params)) is None
    assert inbound_rows(committed_db) == 0


@pytest.mark.parametrize(
    ("phone", "words", "confirmation"),
    [(PHONE, "2", "switch_confirmed"), (SPANISH_PHONE, "CAMBIAR", "switch_confirmed")],
    ids=["english", "spanish"],
)
async def test_conversation_status_then_switch_ends_with_the_alternative_and_a_queued_confirmation(
    post_sms: PostSms,
    committed_db: Database,
    backordered: None,
    phone: str,
    words: str,
    confirmation: str,
) -> None:
    status = message_of(await post_sms(inbound_form("STATUS", phone)))
    assert status is not None
    # The choice is confirmed by the outbox (the notifier's message), not inline as well.
    assert message_of(await post_sms(inbound_form(words, phone))) is None
    with committed_db.session() as session:
        customer = session.scalars(select(Customer).where(Customer.phone == phone)).one()
        lines = {line.product.sku: line.status for line in customer.orders[0].lines}
        assert lines == {"MUG": LineStatus.SWITCHED, "MUG-ALT": LineStatus.ALLOCATED}
        notify_pending(session, ShopVoice("Our shop", "support@example.com"), utcnow())
    with committed_db.read_session() as session:
        queued = session.scalars(
            select(OutboxMessage).where(OutboxMessage.customer_id == customer.id)
        ).all()
        confirmations = [m for m in queued if m.message == confirmation]
        assert len(confirmations) == 1
        assert confirmations[0].address == phone
        assert confirmations[0].urgent


async def test_metrics_count_inbound_messages_by_channel_and_intent(
    post_sms: PostSms, client: httpx.AsyncClient, backordered: None
) -> None:
    params = inbound_form("STATUS")
    await post_sms(params)
    await post_sms(params)
    text = (await client.get("/metrics")).text
    assert 'backorder_bot_inbound_messages_total{channel="sms",intent="status"} 1.0' in text
    assert 'backorder_bot_inbound_messages_total{channel="sms",intent="duplicate"} 1.0' in text
    assert 'backorder_bot_replies_total{channel="sms",message="status_reply"} 1.0' in text


@pytest.mark.parametrize(
    "tamper",
    ["drop_field", "add_field", "wrong_host", "changed_body"],
)
async def test_a_tampered_request_gets_403_and_writes_nothing(
    client: httpx.AsyncClient, committed_db: Database, backordered: None, tamper: str
) -> None:
    params = inbound_form("2")
    signed_url = URL
    sent = list(params)
    if tamper == "drop_field":
        sent = [(k, v) for k, v in params if k != "NumMedia"]
    elif tamper == "add_field":
        sent = [*params, ("Extra", "1")]
    elif tamper == "wrong_host":
        signed_url = URL.replace("shop.example", "evil.example")
    else:
        sent = [(k, "3" if k == "Body" else v) for k, v in params]
    headers = {**FORM, "X-Twilio-Signature": sign(signed_url, params)}
    response = await client.post(PATH, content=urlencode(sent), headers=headers)
    assert response.status_code == 403
    assert inbound_rows(committed_db) == 0
    with committed_db.read_session() as session:
        order = session.scalars(select(Order).where(Order.number == "A1001")).one()
        assert order.lines[0].status == LineStatus.BACKORDERED


async def test_someone_elses_order_and_a_missing_one_get_the_same_answer(
    post_sms: PostSms, backordered: None
) -> None:
    # A1002 exists but is María's; A9999 does not exist.
    theirs = message_of(await post_sms(inbound_form("STATUS A1002")))
    missing = message_of(await post_sms(inbound_form("STATUS A9999")))
    assert theirs is not None
    assert missing is not None
    assert theirs.replace("A1002", "#") == missing.replace("A9999", "#")


async def test_guessing_order_numbers_is_rate_limited_with_one_answer_for_all(
    post_sms: PostSms, backordered: None
) -> None:
    for guess in range(5):
        await post_sms(inbound_form(f"STATUS B{3000 + guess}"))
    answers = {
        message_of(await post_sms(inbound_form(f"STATUS {number}")))
        for number in ("A1002", "A9999", "A1001")  # someone else's, missing, and their own
    }
    assert len(answers) == 1
    assert "too many" in (answers.pop() or "").lower()


async def test_a_status_answer_about_one_order_carries_its_page_link(
    post_sms: PostSms, backordered: None
) -> None:
    text = message_of(await post_sms(inbound_form("STATUS A1001")))
    assert text is not None
    assert f"{PUBLIC_BASE_URL}/o/" in text


# --- WhatsApp senders on the SMS webhook (issue 17, item 4) -------------------------------------
# Twilio posts WhatsApp messages to the same webhook, with ``From=whatsapp:+1...``. Until WhatsApp
# is a channel of its own they get one fixed answer: nothing about orders, no change to consent.

WHATSAPP_UNSUPPORTED = "can't answer on WhatsApp yet"


@pytest.mark.parametrize("body", ["STOP", "Stop", "UNSUBSCRIBE"])
async def test_a_whatsapp_stop_does_not_opt_the_sms_number_out(
    post_sms: PostSms, committed_db: Database, backordered: None, body: str
) -> None:
    text = message_of(await post_sms(inbound_form(body, "whatsapp:" + PHONE)))
    assert text is not None
    assert WHATSAPP_UNSUPPORTED in text
    with committed_db.read_session() as session:
        customer = session.scalars(select(Customer).where(Customer.phone == PHONE)).one()
        assert customer.sms_state == ReachState.ACTIVE
        assert customer.sms_state_changed_at is None


@pytest.mark.parametrize("body", ["STATUS", "STATUS A1001", "where is my order?", "3"])
async def test_a_whatsapp_sender_is_shown_no_orders(
    post_sms: PostSms, backordered: None, body: str
) -> None:
    text = message_of(await post_sms(inbound_form(body, "WhatsApp:" + PHONE)))
    assert text is not None
    assert WHATSAPP_UNSUPPORTED in text
    for secret in ("A1001", "MUG", "backorder"):
        assert secret not in text


async def test_a_whatsapp_message_is_recorded_once_and_tied_to_no_customer(
    post_sms: PostSms, committed_db: Database, backordered: None
) -> None:
    params = inbound_form("STOP", "whatsapp:" + PHONE)
    assert message_of(await post_sms(params)) is not None
    assert message_of(await post_sms(params)) is None  # Twilio's retry: answered once
    with committed_db.read_session() as session:
        row = session.scalars(select(InboundMessage)).one()
    assert row.sender == "whatsapp:" + PHONE
    assert row.body == "STOP"
    assert row.customer_id is None
    assert row.handled_at is not None
    assert row.intent == "whatsapp_unsupported"


async def test_a_whatsapp_message_is_filed_in_the_inbox_once(
    post_sms: PostSms, committed_db: Database, backordered: None
) -> None:
    # Nothing a customer wrote is lost from the inbox: the bot cannot serve WhatsApp, so a
    # person must see that someone wrote there (and Twilio's retry files nothing more).
    params = inbound_form("where is my order?", "whatsapp:" + PHONE)
    await post_sms(params)
    await post_sms(params)
    with committed_db.read_session() as session:
        item = session.scalars(select(InboxItem)).one()
        filed = session.scalars(select(InboxMessage)).all()
        logged = session.scalars(select(InboundMessage)).one()
    assert (item.kind, item.sender, item.customer_id) == (
        InboxKind.NOT_UNDERSTOOD,
        "whatsapp:" + PHONE,
        None,
    )
    assert [m.inbound_id for m in filed] == [logged.id]
