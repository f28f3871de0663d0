"""Backorders owed by a supplier, committed for real, and the supplier page link from its e-mail."""

from __future__ import annotations

import datetime as dt
import json
import re
from dataclasses import dataclass

from sqlalchemy import select

from bot.settings import Settings
from bot.suppliers.asking import AskingConfig, ask_suppliers
from messaging.channels.email import EmailContent
from store.db import Database
from store.models import OutboxMessage, Supplier, utcnow
from store.suppliers import ContactData, set_contact
from tests import factories as f

SUPPLIER = "Acme Supply"
SUPPLIER_EMAIL = "orders@acme.example"
LINK = re.compile(r"https?://\S+/s/([A-Za-z0-9_-]{22})")
CSRF_FIELD = re.compile(r'name="csrf" value="([^"]+)"')
ITEM_FIELD = re.compile(r'name="answer_(\d+)" value="changed"')


@dataclass(frozen=True, slots=True)
class Asked:
    token: str
    email: EmailContent

    @property
    def path(self) -> str:
        return "/s/" + self.token


def owed_backorders(
    db: Database,
    *,
    skus: tuple[str, ...] = ("KETTLE",),
    locales: tuple[str, ...] = ("en", "es"),
    waited: dt.timedelta = dt.timedelta(days=5),
    supplier_locale: str = "en",
    now: dt.datetime | None = None,
) -> None:
    """Products of one supplier without a date, each with one waiting order per locale."""
    now = now or utcnow()
    with db.session() as session:
        for sku in skus:
            f.product(session, sku, stock=0, supplier=SUPPLIER)
        set_contact(
            session,
            SUPPLIER,
            ContactData(email=SUPPLIER_EMAIL, locale=supplier_locale, timezone="Europe/Madrid"),
        )
        for n, locale in enumerate(locales):
            who = f.customer(session, name=f"Customer {locale} {n}")
            who.locale = locale
            f.order(
                session,
                f"S-{locale}-{n}",
                [(sku, 1) for sku in skus],
                who=who,
                placed_at=now - waited,
                now=now,
            )


def ask(db: Database, settings: Settings, now: dt.datetime | None = None) -> Asked:
    """Run the sweep and read the link from the e-mail it queued."""
    plan = ask_suppliers(db, AskingConfig.from_settings(settings), now or utcnow())
    assert plan.asked, plan
    return last_request(db)


def last_request(db: Database) -> Asked:
    with db.read_session() as session:
        body = session.scalars(
            select(OutboxMessage.body)
            .where(OutboxMessage.supplier_id.is_not(None))
            .order_by(OutboxMessage.id.desc())
        ).first()
    assert body is not None, "no supplier e-mail queued"
    content = EmailContent(**json.loads(body))
    found = LINK.search(content.text)
    assert found is not None, content.text
    return Asked(found.group(1), content)


def supplier_id(db: Database) -> int:
    with db.read_session() as session:
        found = session.scalar(select(Supplier.id).where(Supplier.name == SUPPLIER))
    assert found is not None
    return found
