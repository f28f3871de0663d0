"""An agent acting for a customer: the same store operations the customer's own actions use,
each scoped to that customer and written to the audit log under the agent's name.

- a choice on an open offer goes through ``store.offers.accept_offer`` with ``via="agent"``,
  exactly as an SMS, Telegram or order-page reply does (same refund, same confirmation);
- a line's cancel with no open offer uses ``store.offers.cancel_line``, the function behind the
  customer's cancel, so its refund is recorded the same way (reason ``agent``);
- shipping uses ``store.shipments.ship``, revoking the order link ``store.order_links.revoke``,
  retrying a message ``messaging.outbox.retry_rows``.

Everything is looked up through the customer: someone else's offer, line, order or message is
``NotFound``, the same answer as an id that does not exist. The audit subject is
``customer:<id>``, so the audit view can list everything done for one customer.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from messaging import outbox
from store import audit, order_links, shopify_jobs
from store.allocation import supersede_open_offers
from store.errors import InvalidInput, NotFound
from store.locking import lock_lines, lock_products
from store.models import (
    LineStatus,
    Offer,
    OfferChoice,
    OfferStatus,
    Order,
    OrderLine,
    OutboxMessage,
    OutboxStatus,
)
from store.offers import accept_offer, cancel_line
from store.policy import Policy
from store.shipments import ship

__all__ = ["Done", "cancel", "choose", "retry_message", "revoke_link", "ship_line", "subject"]

RETRYABLE = (OutboxStatus.FAILED, OutboxStatus.UNKNOWN)
_OPEN_LINE = (LineStatus.BACKORDERED, LineStatus.ALLOCATED)


@dataclass(frozen=True, slots=True)
class Done:
    """What an action did, in a word for the page's notice and the API's answer."""

    action: str
    outcome: str  # "done", or why nothing changed ("expired", "already_decided", ...)
    detail: dict[str, object]


def subject(customer_id: int) -> str:
    return f"customer:{customer_id}"


def choose(
    session: Session,
    customer_id: int,
    offer_id: int,
    choice: OfferChoice,
    *,
    agent: str,
    now: dt.datetime,
    policy: Policy,
) -> Done:
    """Apply ``choice`` on the customer's offer, as the customer's own reply would."""
    offer = session.get(Offer, offer_id)
    if offer is None or offer.customer_id != customer_id:
        raise NotFound(f"customer {customer_id} has no offer {offer_id}")
    result = accept_offer(session, offer_id, choice, via="agent", now=now, policy=policy)
    outcome = "done" if result.accepted and not result.repeated else "unchanged"
    if result.refusal is not None:
        outcome = result.refusal.value
    detail: dict[str, object] = {
        "offer_id": offer_id,
        "choice": choice.value,
        "line_id": offer.line_id,
    }
    return audited(session, agent, customer_id, "customer.offer_choice", outcome, detail, now)


def cancel(
    session: Session,
    customer_id: int,
    line_id: int,
    *,
    agent: str,
    now: dt.datetime,
    policy: Policy,
) -> Done:
    """Cancel a line: through its open offer when it has one (the customer's own cancel),
    else directly, with the refund of its unshipped units recorded as owed."""
    line = _own_line(session, customer_id, line_id)
    # The lock order of ``store.locking`` (the product, then the line, re-read once locked), as
    # every other writer of a line takes it: a concurrent receipt or choice waits for us.
    lock_products(session, [line.product_id])
    line = lock_lines(session, [line.id])[0]
    if line.status is LineStatus.CANCELLED:  # a second "Yes": the work is done already
        return Done("customer.line_cancelled", "unchanged", {"line_id": line.id})
    if line.status not in _OPEN_LINE:
        raise InvalidInput(
            f"this line is {line.status.value}: only waiting or reserved lines cancel"
        )
    offer = session.scalars(
        select(Offer).where(
            Offer.line_id == line.id, Offer.status == OfferStatus.OPEN, Offer.expires_at > now
        )
    ).first()
    if offer is not None:
        return choose(
            session, customer_id, offer.id, OfferChoice.CANCEL, agent=agent, now=now, policy=policy
        )
    supersede_open_offers(session, line, now)  # an expired round still open: it is over now
    cancel_line(session, line, now, reason="agent")
    # A customer's cancel goes back to Shopify through the offer (``store.offers``); this one
    # has none, so it is owed here.
    shopify_jobs.enqueue_line_cancel(session, line, now)
    detail: dict[str, object] = {"line_id": line.id, "order_number": line.order.number}
    return audited(session, agent, customer_id, "customer.line_cancelled", "done", detail, now)


def ship_line(
    session: Session,
    customer_id: int,
    line_id: int,
    *,
    agent: str,
    now: dt.datetime,
    idempotency_key: str | None = None,
    carrier: str | None = None,
    tracking: str | None = None,
) -> Done:
    """Ship the line's reserved, unshipped units (the customer is told, as for any shipment)."""
    line = _own_line(session, customer_id, line_id)
    result = ship(
        session,
        line.order.number,
        sku=line.product.sku,
        carrier=carrier,
        tracking=tracking,
        now=now,
        idempotency_key=idempotency_key,
    )
    detail: dict[str, object] = {
        "line_id": line.id,
        "order_number": line.order.number,
        "shipment_id": result.shipment.id,
    }
    outcome = "done" if result.created else "unchanged"
    return audited(session, agent, customer_id, "customer.line_shipped", outcome, detail, now)


def revoke_link(
    session: Session, customer_id: int, order_number: str, *, agent: str, now: dt.datetime
) -> Done:
    """Close the order page's link; the next message about the order carries a new one."""
    order = session.scalars(
        select(Order).where(Order.number == order_number, Order.customer_id == customer_id)
    ).first()
    if order is None:
        raise NotFound(f"customer {customer_id} has no order {order_number}")
    revoked = order_links.revoke(session, order.id, now)
    detail: dict[str, object] = {"order_number": order.number}
    outcome = "done" if revoked else "no_live_link"
    return audited(session, agent, customer_id, "customer.link_revoked", outcome, detail, now)


def retry_message(
    session: Session, customer_id: int, outbox_id: int, *, agent: str, now: dt.datetime
) -> Done:
    """Queue a failed or unknown message to the customer again."""
    row = session.get(OutboxMessage, outbox_id)
    if row is None or row.customer_id != customer_id:
        raise NotFound(f"customer {customer_id} has no message {outbox_id}")
    if row.status not in RETRYABLE:
        raise InvalidInput(
            f"this message is {row.status.value}: only failed or unknown ones are sent again"
        )
    moved = outbox.retry_rows(session, [outbox_id], now)
    detail: dict[str, object] = {"outbox_id": outbox_id, "was": row.status.value}
    outcome = "done" if moved else "unchanged"
    return audited(session, agent, customer_id, "customer.message_retried", outcome, detail, now)


def _own_line(session: Session, customer_id: int, line_id: int) -> OrderLine:
    line = session.get(OrderLine, line_id)
    if line is None or line.order.customer_id != customer_id:
        raise NotFound(f"customer {customer_id} has no line {line_id}")
    return line


def audited(
    session: Session,
    agent: str,
    customer_id: int,
    action: str,
    outcome: str,
    detail: dict[str, object],
    now: dt.datetime,
) -> Done:
    audit.record(
        session, agent, action, subject=subject(customer_id), now=now, outcome=outcome, **detail
    )
    return Done(action, outcome, detail)
