"""Suppliers in the loop, end to end: a backorder -> the sweep's e-mail reaches a real SMTP
server (aiosmtpd on 127.0.0.1, STARTTLS and AUTH) with the right SKUs and a working link ->
the supplier page sets a date -> each waiting customer is told once, in their language ->
the date passes without a receipt -> a new request, its reminder, then "not answering"."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from bot.settings import Settings
from bot.suppliers.asking import AskingConfig, ask_suppliers
from bot.web import create_app
from messaging.channels.email import SmtpConfig, SmtpEmailChannel
from messaging.channels.sandbox import SandboxChannel
from messaging.dispatcher import DispatchConfig, Dispatcher, Unlimited
from messaging.notifier import ShopVoice
from messaging.quiet_hours import QuietHours
from store.db import Database
from store.models import Channel, Customer, OutboxMessage, OutboxStatus, utcnow
from store.supplier_requests import not_answering
from tests.bot.web.conftest import client_for, twilio_settings
from tests.bot.web.supplier_scenarios import (
    CSRF_FIELD,
    ITEM_FIELD,
    LINK,
    SUPPLIER_EMAIL,
    owed_backorders,
)
from tests.clock import Clock
from tests.messaging.smtp_server import (
    Credentials,
    RecordingHandler,
    client_tls,
    self_signed_certificate,
    server_tls,
    start_server,
)

CREDENTIALS = Credentials("shop", "smtp-pass-123")


@pytest.fixture
def smtp(tmp_path: Path) -> Iterator[tuple[RecordingHandler, SmtpEmailChannel]]:
    cert, key = self_signed_certificate(tmp_path)
    handler = RecordingHandler()
    controller = start_server(handler, starttls=server_tls(cert, key), credentials=CREDENTIALS)
    config = SmtpConfig(
        host="127.0.0.1",
        port=controller.port,
        sender="Casa Test <orders@casa.test>",
        username=CREDENTIALS.username,
        password=CREDENTIALS.password,
        timeout=5.0,
        tls_context=client_tls(cert),
    )
    yield handler, SmtpEmailChannel(config)
    controller.stop()


def _dispatcher(db: Database, email: SmtpEmailChannel, clock: Clock) -> Dispatcher:
    channels = {kind: SandboxChannel(kind) for kind in (Channel.SMS, Channel.TELEGRAM)}
    return Dispatcher(
        db,
        {**channels, Channel.EMAIL: email},
        {kind: Unlimited() for kind in Channel},
        DispatchConfig(
            quiet_hours=QuietHours(dt.time(0), dt.time(0)),
            rates={kind: 100.0 for kind in Channel},
            voice=ShopVoice("Casa Test", "help@casa.test"),
        ),
        clock=clock,
    )


def _customer_messages(db: Database, message: str) -> list[tuple[str, str]]:
    with db.read_session() as session:
        rows = session.execute(
            select(Customer.locale, OutboxMessage.body)
            .join(Customer, Customer.id == OutboxMessage.customer_id)
            .where(OutboxMessage.message == message)
            .order_by(Customer.locale)
        ).all()
    return [(locale, body) for locale, body in rows]


@pytest.mark.asyncio
async def test_a_supplier_date_reaches_the_waiting_customers_once_and_a_missed_one_asks_again(
    committed_db: Database,
    smtp: tuple[RecordingHandler, SmtpEmailChannel],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    monkeypatch.chdir(tmp_path)
    handler, email = smtp
    settings: Settings = twilio_settings(shop_name="Casa Test")
    asking = AskingConfig.from_settings(settings)
    owed_backorders(committed_db, skus=("KETTLE", "TEAPOT"), locales=("en", "es"))
    clock = Clock(utcnow())
    dispatcher = _dispatcher(committed_db, email, clock)
    await dispatcher.run_once()  # the customers hear of the backorder; no supplier e-mail yet
    assert handler.received == []

    # The sweep asks; the e-mail arrives with each SKU, the units waiting and the link.
    plan = ask_suppliers(committed_db, asking, clock())
    assert [a.supplier_name for a in plan.asked] == ["Acme Supply"]
    await dispatcher.run_once()
    [received] = handler.received
    assert received.recipients == [SUPPLIER_EMAIL]
    text_part = received.message.get_body(("plain",))
    assert text_part is not None
    text = text_part.get_content().replace("\r\n", "\n")
    assert "KETTLE" in text
    assert "TEAPOT" in text
    assert text.count("2 units waiting, oldest order 5 days old, no date yet") == 2
    link = LINK.search(text)
    assert link is not None
    assert link.group(0).startswith("https://shop.example/s/")
    with committed_db.read_session() as session:
        row = session.scalars(select(OutboxMessage).where(OutboxMessage.supplier_id.is_not(None)))
        sent = row.one()
        assert sent.status == OutboxStatus.SENT
        assert sent.provider_id == received.message["Message-ID"]

    # Not asked again while the request is open.
    assert ask_suppliers(committed_db, asking, clock()).asked == []

    # The supplier opens the link and gives a date for the kettle.
    eta = (clock() + dt.timedelta(days=10)).date()
    app = create_app(settings, committed_db)
    async with client_for(app) as client:
        path = "/s/" + link.group(1)
        page = await client.get(path)
        assert page.status_code == 200
        csrf = CSRF_FIELD.search(page.text)
        assert csrf is not None
        kettle, _teapot = ITEM_FIELD.findall(page.text)
        form = {"csrf": csrf.group(1), f"answer_{kettle}": "changed", f"eta_{kettle}": str(eta)}
        assert (await client.post(path, data=form)).status_code == 303
        assert (await client.post(path, data=form)).status_code == 303  # a double submit
    await dispatcher.run_once()

    told = _customer_messages(committed_db, "eta_changed")
    assert [locale for locale, _body in told] == ["en", "es"]  # each customer once
    english, spanish = (body for _locale, body in told)
    assert "new supplier date for Product KETTLE" in english
    assert "nueva fecha del proveedor para Product KETTLE" in spanish

    # The date passes with no stock received: the supplier is asked again, then reminded...
    clock.now = clock.now + dt.timedelta(days=12)
    again = ask_suppliers(committed_db, asking, clock())
    assert [[i.sku for i in a.items] for a in again.asked] == [["KETTLE", "TEAPOT"]]
    await dispatcher.run_once()
    assert "(passed)" in _text(handler, -1)
    clock.now = clock.now + dt.timedelta(days=settings.supplier_reminder_days)
    reminded = ask_suppliers(committed_db, asking, clock())
    assert [a.supplier_name for a in reminded.reminded] == ["Acme Supply"]
    await dispatcher.run_once()
    assert handler.received[-1].message["Subject"].startswith("Reminder: ")
    assert LINK.search(_text(handler, -1)).group(1) == LINK.search(_text(handler, -2)).group(1)  # type: ignore[union-attr]

    # ... and, still silent, it shows on the agents' board.
    clock.now = clock.now + dt.timedelta(days=settings.supplier_reminder_days)
    assert ask_suppliers(committed_db, asking, clock()).escalated == ["Acme Supply"]
    with committed_db.read_session() as session:
        [silent] = not_answering(session, clock())
    assert silent.supplier == "Acme Supply"
    assert silent.skus == ["KETTLE", "TEAPOT"]
    assert len(handler.received) == 3


def _text(handler: RecordingHandler, index: int) -> str:
    part = handler.received[index].message.get_body(("plain",))
    assert part is not None
    return str(part.get_content()).replace("\r\n", "\n")
