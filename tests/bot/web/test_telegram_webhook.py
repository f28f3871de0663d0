"""Telegram end to end: the webhook route, the real python-telegram-bot ``Application`` and its
handlers, and a fake Bot API over HTTP on 127.0.0.1 whose requests are checked against
Telegram's published API description. Any handler error fails the test."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio
from sqlalchemy import func, select

from bot.settings import Settings
from bot.web import create_app
from bot.web.telegram_webhook import PATH, SECRET_HEADER
from store.db import Database
from store.models import Channel, Customer, InboundMessage, LineStatus, Order, utcnow
from store.telegram_links import issue_link_token
from tests import factories as f
from tests.bot.web.conftest import client_for
from tests.bot.web.telegram_harness import (
    CHAT,
    GROUP,
    PHONE,
    PUBLIC,
    SECRET,
    STRANGER,
    Bot,
    button,
    contact,
    message,
    running_bot,
)
from tests.messaging.fake_providers import (
    CannedAnswer,
    FakeProviders,
)

pytestmark = pytest.mark.asyncio


def rows(db: Database) -> int:
    with db.read_session() as session:
        return session.scalar(select(func.count()).select_from(InboundMessage)) or 0


def customer_at(db: Database, phone: str) -> Customer:
    with db.read_session() as session:
        return session.scalars(select(Customer).where(Customer.phone == phone)).one()


@pytest_asyncio.fixture
async def bot(
    committed_db: Database,
    fake: FakeProviders,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> AsyncIterator[Bot]:
    monkeypatch.chdir(tmp_path)
    async with running_bot(committed_db, fake) as running:
        yield running


# --- authentication -----------------------------------------------------------------------------


@pytest.mark.parametrize("secret", [None, "", "wrong", SECRET[:-1], SECRET + "x"], ids=repr)
async def test_an_update_without_the_right_secret_gets_403_and_changes_nothing(
    bot: Bot, linked: None, secret: str | None
) -> None:
    response = await bot.post(message("2"), secret=secret)
    assert response.status_code == 403
    await asyncio.sleep(0.05)
    assert rows(bot.db) == 0
    assert bot.calls("sendMessage") == []
    with bot.db.read_session() as session:
        order = session.scalars(select(Order).where(Order.number == "A1001")).one()
        assert order.lines[0].status == LineStatus.BACKORDERED


async def test_the_webhook_is_registered_with_its_secret_on_start(bot: Bot) -> None:
    [call] = bot.calls("setWebhook")
    assert call.fields["url"] == PUBLIC + PATH
    assert call.fields["secret_token"] == SECRET
    assert call.fields["allowed_updates"] == ["message", "callback_query"]
    assert bot.fake.violations == []


async def test_without_telegram_configured_the_route_answers_403(
    committed_db: Database, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    app = create_app(Settings(), committed_db)  # type: ignore[call-arg]
    async with client_for(app) as client:
        response = await client.post(PATH, json=message("STATUS"), headers={SECRET_HEADER: ""})
    assert response.status_code == 403


# --- conversations ------------------------------------------------------------------------------


async def test_a_linked_chat_asking_for_status_gets_its_order(bot: Bot, linked: None) -> None:
    [sent] = await bot.sent_after(message("where is my order?"))
    assert sent.fields["chat_id"] == CHAT
    assert "A1001" in sent.fields["text"]
    assert sent.fields["parse_mode"] == "HTML"
    assert "inline_keyboard" in sent.fields["reply_markup"]  # the three choices
    assert bot.fake.violations == []


async def test_status_command_works_like_the_word(bot: Bot, linked: None) -> None:
    [sent] = await bot.sent_after(message("/status"))
    assert "A1001" in sent.fields["text"]


@pytest.mark.parametrize(
    ("answer", "waited"),
    [
        ("telegram/bad_gateway.json", 0.0),
        (
            CannedAnswer(
                429,
                {
                    "ok": False,
                    "error_code": 429,
                    "description": "Too Many Requests: retry after 1",
                    "parameters": {"retry_after": 1},
                },
            ),
            1.0,
        ),
    ],
    ids=["bad-gateway", "flood-control"],
)
async def test_an_answer_telegram_refused_is_sent_again(
    bot: Bot,
    linked: None,
    answer: str | CannedAnswer,
    waited: float,
) -> None:
    bot.fake.fail(str(CHAT), answer, times=1)
    [refused, sent] = await bot.sent_after(message("/status"), count=2)
    assert refused.fields["text"] == sent.fields["text"]
    assert "A1001" in sent.fields["text"]
    assert sent.received_at - refused.received_at >= waited
    # Accepted once: the customer sees one answer.
    assert sum(n for (p, to, _), n in bot.fake.delivered.items() if to == str(CHAT)) == 1


async def test_a_pressed_button_applies_the_choice_and_is_always_answered(
    bot: Bot, linked: None
) -> None:
    with bot.db.read_session() as session:
        order = session.scalars(select(Order).where(Order.number == "A1001")).one()
        offer_id = order.lines[0].offers[-1].id
    update = button(f"offer:{offer_id}:switch")
    await bot.handled(update)
    await bot.settled(lambda: len(bot.calls("answerCallbackQuery")) == 1)
    assert (
        bot.calls("answerCallbackQuery")[0].fields["callback_query_id"]
        == (update["callback_query"]["id"])
    )
    # The confirmation is the notifier's, through the outbox: nothing inline as well.
    assert bot.calls("sendMessage") == []
    with bot.db.read_session() as session:
        order = session.scalars(select(Order).where(Order.number == "A1001")).one()
        assert {line.product.sku: line.status for line in order.lines} == {
            "MUG": LineStatus.SWITCHED,
            "MUG-ALT": LineStatus.ALLOCATED,
        }


async def test_a_button_for_someone_elses_offer_is_answered_and_changes_nothing(
    bot: Bot, linked: None
) -> None:
    with bot.db.read_session() as session:
        offer_id = session.scalars(select(Order)).one().lines[0].offers[-1].id
    [sent] = await bot.sent_after(button(f"offer:{offer_id}:cancel", chat=STRANGER))
    assert sent.fields["chat_id"] == STRANGER
    assert "A1001" not in sent.fields["text"]
    await bot.settled(lambda: len(bot.calls("answerCallbackQuery")) == 1)
    with bot.db.read_session() as session:
        assert session.scalars(select(Order)).one().lines[0].status == LineStatus.BACKORDERED


async def test_a_duplicate_update_id_is_handled_once(bot: Bot, linked: None) -> None:
    update = message("STATUS")
    await bot.sent_after(update)
    again = await bot.post(update)
    assert again.status_code == 200
    await asyncio.sleep(0.2)
    assert len(bot.calls("sendMessage")) == 1
    assert rows(bot.db) == 1


async def test_two_deliveries_of_one_update_at_once_are_handled_once(
    bot: Bot, linked: None
) -> None:
    update = message("STATUS")
    responses = await asyncio.gather(*(bot.post(update) for _ in range(5)))
    assert [r.status_code for r in responses] == [200] * 5
    await bot.settled(lambda: bot.is_handled(update["update_id"]))
    await asyncio.sleep(0.2)
    assert len(bot.calls("sendMessage")) == 1


async def test_a_spanish_customer_is_answered_in_spanish(bot: Bot, linked: None) -> None:
    with bot.db.session() as session:
        session.scalars(select(Customer)).one().locale = "es"
    [sent] = await bot.sent_after(message("¿dónde está mi pedido?"))
    assert "pedido" in sent.fields["text"]
    assert "A1001" in sent.fields["text"]


async def test_an_unlinked_chat_learns_nothing_and_is_offered_to_share_its_contact(
    bot: Bot, linked: None
) -> None:
    [sent] = await bot.sent_after(message("STATUS A1001", chat=STRANGER, user=STRANGER))
    assert "A1001" not in sent.fields["text"]
    keyboard = sent.fields["reply_markup"]["keyboard"]
    assert keyboard[0][0]["request_contact"] is True


async def test_a_group_chat_gets_no_order_data_even_from_the_linked_user(
    bot: Bot, linked: None
) -> None:
    [sent] = await bot.sent_after(message("STATUS", chat=GROUP, user=CHAT, group=True))
    assert sent.fields["chat_id"] == GROUP
    assert "A1001" not in sent.fields["text"]
    assert "private chat" in sent.fields["text"]


# --- linking ------------------------------------------------------------------------------------


async def test_start_with_a_link_token_links_the_chat(bot: Bot, committed_db: Database) -> None:
    with committed_db.session() as session:
        ada = f.customer(session, phone=PHONE)
        token = issue_link_token(session, ada.id, utcnow())
    [sent] = await bot.sent_after(message(f"/start {token}", chat=STRANGER, user=STRANGER))
    assert "linked" in sent.fields["text"]
    assert sent.fields["reply_markup"] == {"remove_keyboard": True}
    assert customer_at(committed_db, PHONE).telegram_chat_id == STRANGER


async def test_a_used_link_token_does_not_link_a_second_chat(
    bot: Bot, committed_db: Database
) -> None:
    with committed_db.session() as session:
        token = issue_link_token(session, f.customer(session, phone=PHONE).id, utcnow())
    await bot.sent_after(message(f"/start {token}", chat=STRANGER, user=STRANGER))
    [sent] = await bot.sent_after(message(f"/start {token}", chat=CHAT, user=CHAT))
    assert "did not work" in sent.fields["text"]
    assert customer_at(committed_db, PHONE).telegram_chat_id == STRANGER


async def test_an_expired_or_unknown_token_links_nothing(bot: Bot, committed_db: Database) -> None:
    with committed_db.session() as session:
        ada = f.customer(session, phone=PHONE)
        expired = issue_link_token(
            session, ada.id, utcnow() - dt.timedelta(days=40), dt.timedelta(days=30)
        )
    for token in (expired, "A" * 43):
        [sent] = await bot.sent_after(message(f"/start {token}"))
        assert "did not work" in sent.fields["text"]
    assert customer_at(committed_db, PHONE).telegram_chat_id is None


async def test_sharing_ones_own_contact_links_the_chat(bot: Bot, committed_db: Database) -> None:
    with committed_db.session() as session:
        f.customer(session, phone=PHONE)
    # Telegram sends contact numbers without the "+".
    [sent] = await bot.sent_after(contact(PHONE.lstrip("+"), CHAT))
    assert "linked" in sent.fields["text"]
    assert customer_at(committed_db, PHONE).telegram_chat_id == CHAT


@pytest.mark.parametrize("contact_user", [STRANGER, None], ids=["someone-else", "no-user-id"])
async def test_a_contact_that_is_not_the_senders_own_links_nothing(
    bot: Bot, committed_db: Database, contact_user: int | None
) -> None:
    with committed_db.session() as session:
        f.customer(session, phone=PHONE)
    [sent] = await bot.sent_after(contact(PHONE, contact_user))
    assert "did not work" in sent.fields["text"]
    assert customer_at(committed_db, PHONE).telegram_chat_id is None


# --- hostile and odd input ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        b"{not json",
        b"[]",
        b'{"update_id": "7"}',
        json.dumps({"update_id": 7, "message": {"date": 0}}).encode(),
    ],
    ids=["not-json", "array", "string-id", "broken-message"],
)
async def test_malformed_updates_get_200_and_nothing_happens(
    bot: Bot, linked: None, body: bytes
) -> None:
    response = await bot.post(body)
    assert response.status_code == 200
    await asyncio.sleep(0.05)
    assert rows(bot.db) == 0
    assert bot.calls("sendMessage") == []


async def test_an_old_format_update_without_is_bot_gets_200(bot: Bot, linked: None) -> None:
    update = message("STATUS")
    del update["message"]["from"]["is_bot"]
    assert (await bot.post(update)).status_code == 200


async def test_update_types_we_do_not_handle_get_200_and_are_ignored(
    bot: Bot, linked: None
) -> None:
    update = message("STATUS")
    update["edited_message"] = update.pop("message")
    assert (await bot.post(update)).status_code == 200
    await asyncio.sleep(0.05)
    assert bot.calls("sendMessage") == []


@pytest.mark.parametrize(
    "text",
    ["x" * 10_000, "🙂" * 4096, "مرحبا، أين طلبي؟", "\x00"],
    ids=["10k", "emoji", "rtl", "nul"],
)
async def test_hostile_texts_get_a_short_safe_answer(bot: Bot, linked: None, text: str) -> None:
    [sent] = await bot.sent_after(message(text))
    assert len(sent.fields["text"]) <= 4096


async def test_a_body_over_the_limit_gets_413(bot: Bot) -> None:
    response = await bot.post(b"{" + b" " * 300_000 + b"}")
    assert response.status_code == 413


# --- lifecycle ----------------------------------------------------------------------------------


async def test_an_update_logged_but_never_handled_is_replayed_on_start(
    committed_db: Database,
    fake: FakeProviders,
    linked: None,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    monkeypatch.chdir(tmp_path)
    update = message("STATUS")
    with committed_db.session() as session:
        session.add(
            InboundMessage(
                channel=Channel.TELEGRAM,
                provider_id=str(update["update_id"]),
                sender=str(CHAT),
                body="STATUS",
                payload=update,
                received_at=utcnow() - dt.timedelta(minutes=5),
            )
        )
    async with running_bot(committed_db, fake) as bot:
        await bot.settled(lambda: len(bot.calls("sendMessage")) == 1)
        assert "A1001" in bot.calls("sendMessage")[0].fields["text"]


async def test_polling_mode_without_a_public_url_handles_updates(
    committed_db: Database,
    fake: FakeProviders,
    linked: None,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    monkeypatch.chdir(tmp_path)
    fake.telegram_updates.append(message("STATUS"))
    async with running_bot(committed_db, fake, public_base_url=None) as bot:
        await bot.settled(lambda: len(bot.calls("sendMessage")) == 1)
        assert "A1001" in bot.calls("sendMessage")[0].fields["text"]
        assert bot.calls("setWebhook") == []
        # The webhook route is closed to everyone in polling mode... but still needs the secret.
        assert (await bot.post(message("STATUS"), secret="wrong")).status_code == 403
