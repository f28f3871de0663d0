"""A small shop for broadcast tests: who waits on what, in which language, reachable how."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from messaging.broadcasts import BroadcastService
from messaging.notifier import ShopVoice
from messaging.quiet_hours import QuietHours
from store.db import Database
from store.models import Channel, Customer, Offer, OfferChoice, OfferStatus, ReachState
from tests import factories
from tests.factories import NOW

ETA_A = dt.date(2026, 12, 1)
ETA_B = dt.date(2027, 1, 15)


@dataclass
class Shop:
    """Customer ids by role."""

    ids: dict[str, int]


def service(db: Database, *, now: dt.datetime = NOW, batch_size: int = 3) -> BroadcastService:
    # A tiny batch size so that every test crosses batch boundaries.
    return BroadcastService(
        db,
        ShopVoice("Acme Kitchen", "help@acme.example"),
        QuietHours(dt.time(21), dt.time(8)),
        clock=lambda: now,
        batch_size=batch_size,
    )


def _customer(
    session: Session,
    name: str,
    *,
    locale: str = "en",
    timezone: str = "UTC",
    phone: bool = True,
    sms: ReachState = ReachState.ACTIVE,
    telegram_chat: int | None = None,
    telegram: ReachState = ReachState.ACTIVE,
    preferred: Channel = Channel.SMS,
) -> Customer:
    c = factories.customer(session, name)
    c.locale, c.timezone, c.preferred_channel = locale, timezone, preferred
    c.phone = c.phone if phone else None
    c.sms_state, c.telegram_chat_id, c.telegram_state = sms, telegram_chat, telegram
    session.flush()
    return c


def build(db: Database) -> Shop:
    """Nine customers; every one waits on SKU-A or SKU-B (or both), one has nothing waiting."""
    ids: dict[str, int] = {}
    with db.session() as s:
        factories.product(s, "SKU-A", eta=ETA_A, supplier="Acme Supply")
        factories.product(s, "SKU-B", eta=ETA_B, supplier="Beta Goods")
        factories.product(s, "SKU-C", stock=100, supplier="Acme Supply")
        people = {
            "ada": _customer(s, "Ada Lovelace"),
            "bea": _customer(s, "Beatriz Ruiz", locale="es-MX", timezone="America/Mexico_City"),
            "carl": _customer(
                s, "Carl Tg", phone=False, telegram_chat=9_000_000_001, preferred=Channel.TELEGRAM
            ),
            "dora": _customer(s, "Dora Stop", sms=ReachState.OPTED_OUT),
            "eli": _customer(s, "Eli Both", sms=ReachState.OPTED_OUT, telegram_chat=9_000_000_002),
            "fay": _customer(s, "Fay Invalid", sms=ReachState.INVALID),
            "gus": _customer(s, "Gus Nothing", phone=False),
            "hana": _customer(s, "Hana Night", timezone="Asia/Tokyo"),  # 21:00 there at NOW
            "ivan": _customer(s, "Ivan Shipped"),
        }
        ids = {k: v.id for k, v in people.items()}
        days = {"ada": 40, "bea": 10, "carl": 5, "dora": 5, "eli": 5, "fay": 5, "gus": 5, "hana": 5}
        for key, age in days.items():
            sku = "SKU-B" if key == "bea" else "SKU-A"
            factories.order(
                s, f"N-{key}", [(sku, 1)], who=people[key], placed_at=NOW - dt.timedelta(days=age)
            )
        # Ada also waits on SKU-B: still one message for her.
        factories.order(
            s, "N-ada-2", [("SKU-B", 2)], who=people["ada"], placed_at=NOW - dt.timedelta(days=3)
        )
        factories.order(s, "N-ivan", [("SKU-C", 1)], who=people["ivan"])
        # Ada chose to wait on her SKU-A line and has a coupon.
        ada_offer = s.scalars(
            select(Offer).where(Offer.customer_id == ids["ada"]).order_by(Offer.id)
        ).first()
        assert ada_offer is not None
        ada_offer.status, ada_offer.choice = OfferStatus.ACCEPTED, OfferChoice.WAIT
        ada_offer.coupon_code = "WAIT-ADA12345"
    return Shop(ids)
