"""The inbox loses nothing: 1,000 mixed messages through the real app, both webhooks.

Signed Twilio SMS (``POST /webhooks/twilio/sms``) and Telegram updates (``POST
/webhooks/telegram`` with the secret, handled by the real python-telegram-bot ``Application``
against the fake Bot API on 127.0.0.1), from 40 customers and some strangers: status questions
and offer replies the bot answers, HELP (always the bot's, hand-off or not), texts it cannot
understand, requests for a person, and whatever a handed-off customer writes next. Every so
often an agent closes everything through ``/api`` and the bot answers those customers again.

A model of the promises says, for each message, whether a person must see it and why; at the
end the inbox holds exactly those messages with those reasons (none missing, none extra), and
every message is handled. Runs on SQLite, and on PostgreSQL with ``TEST_DATABASE_URL``.
"""

from __future__ import annotations

import random
import secrets
from dataclasses import dataclass, field
from urllib.parse import urlencode

import pytest
from sqlalchemy import func, select

from store.db import Database
from store.models import Channel, InboundMessage, utcnow
from store.tables_inbox import InboxMessage
from tests import factories as f
from tests.bot.web.conftest import FORM, TOKEN, sign
from tests.bot.web.telegram_harness import PUBLIC, Bot, message, running_bot
from tests.messaging.fake_providers import FakeProviders

pytestmark = pytest.mark.asyncio

MESSAGES = 1000
CLOSE_EVERY = 150
API_TOKEN = "agent-token-for-the-inbox-proof-0123"
SMS_PATH = "/webhooks/twilio/sms"
SMS_PEOPLE = [f"+1415555{i:04d}" for i in range(300, 320)]
STRANGERS = ["+14155559901", "+14155559902"]
CHATS = [6_000_000_000 + i for i in range(20)]
UNDERSTOOD = ("where is my order?", "STATUS", "1", "when will my package arrive")
NOT_UNDERSTOOD = ("the lid is cracked", "ok thanks", "do you sell gift cards", "?")
HUMAN = ("agent", "Can I talk to a human?", "quiero hablar con una persona", "representative")


@dataclass
class Model:
    """Who is handed off, and what the inbox must hold: provider id -> why."""

    handed_off: set[str] = field(default_factory=set)
    expected: dict[str, str] = field(default_factory=dict)

    def expect(self, who: str, provider_id: str, kind: str, *, customer: bool) -> None:
        """What the promises say becomes of one message of ``kind`` from ``who``."""
        if kind == "help":
            return  # the bot's, always
        if kind == "human":
            self.expected[provider_id] = "human_requested"
            if customer:
                self.handed_off.add(who)
        elif who in self.handed_off:
            self.expected[provider_id] = "handed_off"
        elif kind == "unknown":
            self.expected[provider_id] = "not_understood"


def people(db: Database) -> None:
    with db.session() as session:
        f.product(session, "MUG", stock=500)
        for phone in SMS_PEOPLE:
            customer = f.customer(session, f"Sms {phone[-3:]}", phone=phone)
            f.order(session, f"S{phone[-3:]}", [("MUG", 1)], who=customer, placed_at=utcnow())
        for chat in CHATS:
            customer = f.customer(session, f"Tg {chat % 100}")
            customer.telegram_chat_id = chat
            customer.preferred_channel = Channel.TELEGRAM
            f.order(session, f"T{chat % 100}", [("MUG", 1)], who=customer, placed_at=utcnow())


async def send_sms(bot: Bot, sender: str, body: str) -> str:
    sid = "SM" + secrets.token_hex(16)
    params = [("MessageSid", sid), ("From", sender), ("To", "+14155550100"), ("Body", body)]
    headers = {**FORM, "X-Twilio-Signature": sign(PUBLIC + SMS_PATH, params)}
    response = await bot.client.post(SMS_PATH, content=urlencode(params), headers=headers)
    assert response.status_code == 200, response.text
    return sid


async def send_telegram(bot: Bot, chat: int, body: str) -> str:
    update = message(body, chat=chat, user=chat)
    assert (await bot.post(update)).status_code == 200
    update_id = update["update_id"]
    # One chat's messages in order, as Telegram delivers them: a hand-off comes first.
    await bot.settled(lambda: bot.is_handled(update_id), timeout=20)
    return str(update_id)


async def close_everything(bot: Bot, model: Model) -> None:
    auth = {"Authorization": f"Bearer {API_TOKEN}"}
    while True:
        page = (await bot.client.get("/api/inbox", headers=auth)).json()
        if not page["items"]:
            break
        for item in page["items"]:
            closed = await bot.client.post(
                f"/api/inbox/{item['id']}/close", json={"agent": "proof"}, headers=auth
            )
            assert closed.status_code == 200
    model.handed_off.clear()


def draw(dice: random.Random) -> tuple[str, str]:
    kind = dice.choices(["understood", "help", "unknown", "human"], weights=[5, 1, 3, 1])[0]
    words = {"understood": UNDERSTOOD, "help": ("HELP",), "unknown": NOT_UNDERSTOOD}
    return kind, dice.choice(words.get(kind, HUMAN))


async def test_every_message_that_needs_a_person_is_in_the_inbox_and_no_other(
    committed_db: Database, fake: FakeProviders
) -> None:
    people(committed_db)
    dice, model = random.Random(13), Model()
    twilio = {"twilio_account_sid": "AC" + "0" * 32, "twilio_auth_token": TOKEN}
    overrides = {**twilio, "twilio_from_number": "+14155550100", "agent_api_token": API_TOKEN}
    async with running_bot(committed_db, fake, **overrides) as bot:
        for n in range(MESSAGES):
            if n and n % CLOSE_EVERY == 0:
                await close_everything(bot, model)
            kind, body = draw(dice)
            where = dice.random()
            if where < 0.46:
                who = dice.choice(SMS_PEOPLE)
                provider_id = await send_sms(bot, who, body)
            elif where < 0.5:
                who = dice.choice(STRANGERS)  # no customer: never handed off
                provider_id = await send_sms(bot, who, body)
            else:
                who = str(dice.choice(CHATS))
                provider_id = await send_telegram(bot, int(who), body)
            model.expect(who, provider_id, kind, customer=who not in STRANGERS)
    with committed_db.read_session() as session:
        unhandled = session.scalar(
            select(func.count())
            .select_from(InboundMessage)
            .where(InboundMessage.handled_at.is_(None))
        )
        total = session.scalar(select(func.count()).select_from(InboundMessage))
        filed = dict(
            (provider_id, kind.value)
            for provider_id, kind in session.execute(
                select(InboundMessage.provider_id, InboxMessage.kind).join(
                    InboxMessage, InboxMessage.inbound_id == InboundMessage.id
                )
            )
        )
    assert (total, unhandled) == (MESSAGES, 0)
    missing = {k: v for k, v in model.expected.items() if filed.get(k) != v}
    extra = {k: v for k, v in filed.items() if k not in model.expected}
    assert missing == {}, f"{len(missing)} messages a person must see are not in the inbox"
    assert extra == {}, f"{len(extra)} messages the bot handled are in the inbox"
    kinds = sorted(set(model.expected.values()))
    assert kinds == ["handed_off", "human_requested", "not_understood"]  # the mix was mixed
    assert len(model.expected) > 300
