"""Suppliers without e-mail are asked on Telegram or by SMS, with the same private link.

E-mail first (suppliers live in e-mail), else the supplier's Telegram chat, else its phone; the
text waits for the end of quiet hours in the supplier's own time zone.
"""

from __future__ import annotations

import datetime as dt
import re

import httpx
import pytest
from sqlalchemy import select

from bot.settings import Settings
from bot.suppliers.asking import AskingConfig, ask_suppliers
from messaging.channels.sandbox import SandboxChannel
from messaging.dispatcher import DispatchConfig, Dispatcher, Unlimited
from messaging.notifier import ShopVoice
from messaging.quiet_hours import QuietHours
from store.db import Database
from store.models import Channel, OutboxMessage, OutboxStatus, Supplier
from tests.bot.web.supplier_scenarios import SUPPLIER, owed_backorders
from tests.clock import Clock

pytestmark = pytest.mark.asyncio

LINK = re.compile(r"https?://[^\s\"<]+(/s/[A-Za-z0-9_-]{22})")
# Wednesday 3 December 2025, 23:00 in Madrid (UTC+1): inside the default 21:00-08:00 quiet hours.
MADRID_NIGHT = dt.datetime(2025, 12, 3, 22, 0, tzinfo=dt.UTC)
MADRID_DAY = dt.datetime(2025, 12, 3, 10, 0, tzinfo=dt.UTC)  # 11:00 there


def _contact(db: Database, **fields: object) -> None:
    with db.session() as session:
        supplier = session.scalars(select(Supplier).where(Supplier.name == SUPPLIER)).one()
        for name, value in {"email": None, **fields}.items():
            setattr(supplier, name, value)


def _queued(db: Database) -> list[OutboxMessage]:
    with db.read_session() as session:
        rows = session.scalars(
            select(OutboxMessage).where(OutboxMessage.supplier_id.is_not(None))
        ).all()
        session.expunge_all()
    return list(rows)


def _ask(db: Database, settings: Settings, now: dt.datetime | None = None) -> None:
    now = now or dt.datetime.now(dt.UTC)
    ask_suppliers(db, AskingConfig.from_settings(settings), now)


async def test_a_supplier_with_only_a_phone_gets_an_sms_with_a_link_that_opens_its_page(
    client: httpx.AsyncClient, committed_db: Database, settings: Settings
) -> None:
    owed_backorders(committed_db, skus=("KETTLE", "TEAPOT"))
    _contact(committed_db, phone="+14155550100")
    _ask(committed_db, settings)
    (sms,) = _queued(committed_db)
    assert (sms.channel, sms.address, sms.customer_id) == (Channel.SMS, "+14155550100", None)
    assert "customers are waiting for 2 items from Acme Supply" in sms.body
    link = LINK.search(sms.body)
    assert link is not None, sms.body
    page = await client.get(link.group(1))
    assert page.status_code == 200
    assert "KETTLE" in page.text


async def test_a_telegram_chat_comes_before_the_phone(
    committed_db: Database, settings: Settings
) -> None:
    owed_backorders(committed_db)
    _contact(committed_db, phone="+14155550100", telegram_chat_id=5_000_000_001)
    _ask(committed_db, settings)
    (message,) = _queued(committed_db)
    assert (message.channel, message.address) == (Channel.TELEGRAM, "5000000001")
    assert "<b>KETTLE</b>" in message.body
    assert LINK.search(message.body) is not None


async def test_an_email_address_still_comes_first(
    committed_db: Database, settings: Settings
) -> None:
    owed_backorders(committed_db)
    with committed_db.session() as session:
        supplier = session.scalars(select(Supplier).where(Supplier.name == SUPPLIER)).one()
        supplier.phone = "+14155550100"
    _ask(committed_db, settings)
    (message,) = _queued(committed_db)
    assert message.channel is Channel.EMAIL


async def test_the_text_waits_for_the_end_of_the_suppliers_night(
    committed_db: Database, settings: Settings
) -> None:
    owed_backorders(committed_db, now=MADRID_NIGHT)
    _contact(committed_db, phone="+14155550100")  # the supplier's zone is Europe/Madrid
    _ask(committed_db, settings, MADRID_NIGHT)
    (sms,) = _queued(committed_db)
    # 08:00 in Madrid the next morning, 07:00 UTC.
    assert sms.due_at == dt.datetime(2025, 12, 4, 7, 0, tzinfo=dt.UTC)


async def test_a_reminder_goes_the_same_way_with_the_same_link(
    committed_db: Database, settings: Settings
) -> None:
    owed_backorders(committed_db)
    _contact(committed_db, phone="+14155550100")
    now = dt.datetime.now(dt.UTC)
    _ask(committed_db, settings, now)
    _ask(committed_db, settings, now + dt.timedelta(days=settings.supplier_reminder_days))
    first, reminder = sorted(_queued(committed_db), key=lambda m: m.id)
    assert reminder.channel is Channel.SMS
    assert "reminder:" in reminder.body
    first_link, second_link = LINK.search(first.body), LINK.search(reminder.body)
    assert first_link is not None
    assert second_link is not None
    assert first_link.group(1) == second_link.group(1)


async def test_a_supplier_without_any_contact_is_named_and_not_asked(
    committed_db: Database, settings: Settings
) -> None:
    owed_backorders(committed_db)
    _contact(committed_db)
    plan = ask_suppliers(
        committed_db, AskingConfig.from_settings(settings), dt.datetime.now(dt.UTC)
    )
    assert plan.no_contact == [SUPPLIER]
    assert _queued(committed_db) == []


async def test_the_dispatcher_sends_the_suppliers_sms_to_its_phone(
    committed_db: Database, settings: Settings
) -> None:
    clock = Clock(MADRID_DAY)
    owed_backorders(committed_db, now=clock())
    _contact(committed_db, phone="+14155550100")
    sms = SandboxChannel(Channel.SMS)
    dispatcher = Dispatcher(
        committed_db,
        {Channel.SMS: sms, Channel.TELEGRAM: SandboxChannel(Channel.TELEGRAM)},
        {kind: Unlimited() for kind in Channel},
        DispatchConfig(
            quiet_hours=QuietHours(dt.time(0), dt.time(0)),
            rates={kind: 100.0 for kind in Channel},
            voice=ShopVoice("Casa Test", "help@casa.test"),
        ),
        clock=clock,
    )
    _ask(committed_db, settings, clock())
    await dispatcher.run_once()
    to_supplier = [r.message for r in sms.sent if r.message.address == "+14155550100"]
    assert len(to_supplier) == 1
    assert LINK.search(to_supplier[0].text) is not None
    with committed_db.read_session() as session:
        status = session.scalar(
            select(OutboxMessage.status).where(OutboxMessage.supplier_id.is_not(None))
        )
    assert status is OutboxStatus.SENT
