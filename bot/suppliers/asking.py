"""The supplier sweep: plan requests and reminders (``store.supplier_requests``), render each
e-mail and queue it in the outbox, all in one transaction, so a request exists exactly when its
e-mail is queued (the dispatcher then sends, retries and records it like any message).

Run by ``backorder-bot suppliers ask`` and, with the other periodic work, by ``backorder-bot
sweep``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from bot.settings import Settings
from messaging import outbox
from messaging.channels.email import render_email
from store.db import Database
from store.models import Channel
from store.order_links import subkey
from store.policy import Policy
from store.supplier_requests import PAGE_PATH, Asked, SweepPlan, plan_sweep

MESSAGE = "supplier_request"


@dataclass(frozen=True, slots=True)
class AskingConfig:
    """What the sweep needs from the settings."""

    key: bytes
    base_url: str
    shop_name: str
    support_contact: str
    policy: Policy
    reminder_after: dt.timedelta
    link_ttl: dt.timedelta

    @classmethod
    def from_settings(cls, settings: Settings) -> AskingConfig:
        return cls(
            key=supplier_link_key(settings),
            base_url=settings.order_page_base_url,
            shop_name=settings.shop_name,
            support_contact=settings.support_contact,
            policy=settings.policy(),
            reminder_after=dt.timedelta(days=settings.supplier_reminder_days),
            link_ttl=dt.timedelta(days=settings.supplier_link_days),
        )


def supplier_link_key(settings: Settings) -> bytes:
    """The key supplier page tokens are derived with: one purpose of ORDER_LINK_SECRET."""
    return subkey(settings.order_link_secret_bytes(), "supplier-token")


def supplier_page_url(base_url: str, token: str) -> str:
    return base_url.rstrip("/") + PAGE_PATH + token


def ask_suppliers(db: Database, config: AskingConfig, now: dt.datetime) -> SweepPlan:
    """Make the requests and reminders due at ``now`` and queue their e-mails."""
    return db.transaction(lambda session: _ask_in(session, config, now))


def _ask_in(session: Session, config: AskingConfig, now: dt.datetime) -> SweepPlan:
    plan = plan_sweep(
        session,
        now=now,
        policy=config.policy,
        key=config.key,
        reminder_after=config.reminder_after,
        link_ttl=config.link_ttl,
    )
    messages = [_queued(asked, config, now) for asked in plan.asked + plan.reminded]
    outbox.enqueue(session, messages, now)
    return plan


def _queued(asked: Asked, config: AskingConfig, now: dt.datetime) -> outbox.QueuedMessage:
    zone = ZoneInfo(asked.timezone)
    today = now.astimezone(zone).date()
    content = render_email(
        MESSAGE,
        asked.locale,
        shop_name=config.shop_name,
        support_contact=config.support_contact,
        supplier={"name": asked.supplier_name, "timezone": asked.timezone},
        customer={"name": asked.supplier_name, "timezone": asked.timezone},
        items=[
            {
                "sku": item.sku,
                "name": item.name,
                "units_waiting": item.units_waiting,
                "oldest_days": max(0, (now - item.oldest_placed_at).days),
                "eta": item.eta,
                "eta_passed": item.eta is not None and item.eta < today,
            }
            for item in asked.items
        ],
        today=today,
        asked_on=asked.asked_at.astimezone(zone).date(),
        expires_on=asked.expires_at.astimezone(zone).date(),
        reminder=asked.reminder,
        url=supplier_page_url(config.base_url, asked.token),
    )
    kind = "reminder" if asked.reminder else "ask"
    return outbox.QueuedMessage(
        dedupe_key=f"{MESSAGE}:{asked.request_id}:{kind}",
        customer_id=None,
        supplier_id=asked.supplier_id,
        channel=Channel.EMAIL,
        address=asked.email,
        message=MESSAGE,
        locale=asked.locale,
        body=content.to_body(),
        # Quiet hours protect phones at night; an e-mail waits in an inbox.
        urgent=True,
    )
