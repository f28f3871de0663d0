"""The supplier sweep: plan requests and reminders (``store.supplier_requests``), render each
e-mail and queue it in the outbox, all in one transaction, so a request exists exactly when its
e-mail is queued (the dispatcher then sends, retries and records it like any message).

A supplier without an e-mail address but with a Telegram chat or a phone gets a short message
there instead, with the same private link (``templates/suppliers/``); it waits for the end of
quiet hours in the supplier's own time zone, since a phone is not an inbox.

Run by ``backorder-bot suppliers ask`` and, with the other periodic work, by ``backorder-bot
sweep``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from bot.settings import Settings
from messaging import outbox
from messaging.channels.email import render_email
from messaging.quiet_hours import QuietHours
from messaging.render import ENVIRONMENT, locale_chain
from store.db import Database
from store.models import Channel
from store.order_links import subkey
from store.policy import Policy
from store.supplier_requests import PAGE_PATH, Asked, SweepPlan, plan_sweep

MESSAGE = "supplier_request"
# For callers that build the config by hand: SMS and Telegram go at once.
NO_QUIET_HOURS = QuietHours(dt.time(0), dt.time(0))


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
    quiet_hours: QuietHours = NO_QUIET_HOURS

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
            quiet_hours=QuietHours(settings.quiet_hours_start, settings.quiet_hours_end),
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
    context = _context(asked, config, now)
    if asked.channel is not Channel.EMAIL:
        return _queued_text(asked, config, now, context)
    content = render_email(MESSAGE, asked.locale, **context)
    kind = "reminder" if asked.reminder else "ask"
    return outbox.QueuedMessage(
        dedupe_key=f"{MESSAGE}:{asked.request_id}:{kind}",
        customer_id=None,
        supplier_id=asked.supplier_id,
        channel=Channel.EMAIL,
        address=asked.address,
        message=MESSAGE,
        locale=asked.locale,
        body=content.to_body(),
        # Quiet hours protect phones at night; an e-mail waits in an inbox.
        urgent=True,
    )


def _queued_text(
    asked: Asked, config: AskingConfig, now: dt.datetime, context: dict[str, Any]
) -> outbox.QueuedMessage:
    """An SMS or Telegram message with the link, due when the supplier's night is over."""
    name = "sms.{locale}.txt" if asked.channel is Channel.SMS else "telegram.{locale}.html"
    template = ENVIRONMENT.select_template(
        [f"suppliers/request/{name.format(locale=c)}" for c in locale_chain(asked.locale)]
    )
    text = template.render({**context, "locale": asked.locale}).strip()
    body = "\n".join(line.rstrip() for line in text.splitlines())
    kind = "reminder" if asked.reminder else "ask"
    return outbox.QueuedMessage(
        dedupe_key=f"{MESSAGE}:{asked.request_id}:{kind}",
        customer_id=None,
        supplier_id=asked.supplier_id,
        channel=asked.channel,
        address=asked.address,
        message=MESSAGE,
        locale=asked.locale,
        body=body,
        # The dispatcher knows no time zone for a supplier: the wait is worked out here, in
        # the supplier's, and the row is then sent when due.
        urgent=True,
        due_at=config.quiet_hours.next_allowed(now, asked.timezone),
    )


def _context(asked: Asked, config: AskingConfig, now: dt.datetime) -> dict[str, Any]:
    zone = ZoneInfo(asked.timezone)
    today = now.astimezone(zone).date()
    return dict(
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
