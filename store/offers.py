"""The three choices offered for a waiting line: wait (with a discount), switch, cancel.

One offer row is one round of choices for one line; making a new round supersedes the open one.
Accepting is idempotent (the same choice again answers the same outcome) and refuses clearly
when the offer expired, was superseded, or was already decided otherwise.
"""

from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from store import events, shopify_jobs
from store.allocation import add_stock, allocate_waiting, supersede_open_offers, take_stock
from store.errors import NotFound
from store.locking import lock_lines, lock_products
from store.models import (
    CategoryDiscount,
    EventKind,
    LineStatus,
    Offer,
    OfferChoice,
    OfferStatus,
    OrderLine,
    Product,
    Refund,
)
from store.order_status import settle_order
from store.policy import Policy
from store.refunds import cancel_scope, record_refund

# No 0/O, 1/I/L: customers read these codes aloud to support.
_COUPON_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"


class Refusal(StrEnum):
    EXPIRED = "expired"
    SUPERSEDED = "superseded"
    ALREADY_DECIDED = "already_decided"
    NO_ALTERNATIVE = "no_alternative"
    ALTERNATIVE_UNAVAILABLE = "alternative_unavailable"


@dataclass(frozen=True, slots=True)
class OfferOutcome:
    offer: Offer
    choice: OfferChoice
    accepted: bool
    repeated: bool = False  # the same choice was already accepted: nothing changed this time
    refusal: Refusal | None = None
    new_line: OrderLine | None = None

    @property
    def coupon_code(self) -> str | None:
        return self.offer.coupon_code


def discount_for(session: Session, product: Product, policy: Policy) -> int:
    if product.discount_percent is not None:
        return product.discount_percent
    category = session.get(CategoryDiscount, product.category)
    if category is not None:
        return category.discount_percent
    return policy.default_discount_percent


def find_alternative(
    session: Session, product: Product, quantity: int, policy: Policy
) -> Product | None:
    """The shop's explicit alternatives first (in their order), then the same category.

    Only products with ``quantity`` units in stock qualify; from the category, the closest in
    price within the configured band.
    """
    for explicit in product.alternatives:
        candidate = explicit.alternative
        # Refused when set, but either product's currency may have changed since.
        if candidate.currency == product.currency and candidate.stock_on_hand >= quantity:
            return candidate
    band = product.price_cents * policy.alternative_price_band_percent // 100
    return session.scalars(
        select(Product)
        .where(
            Product.category == product.category,
            Product.id != product.id,
            Product.currency == product.currency,
            Product.stock_on_hand >= quantity,
            Product.price_cents.between(product.price_cents - band, product.price_cents + band),
        )
        .order_by(func.abs(Product.price_cents - product.price_cents), Product.id)
        .limit(1)
    ).first()


def make_offer(
    session: Session,
    line: OrderLine,
    policy: Policy,
    now: dt.datetime,
    *,
    default_choice: OfferChoice | None = None,
) -> Offer:
    """Open a new round of choices for a waiting line, superseding any open one.

    ``default_choice``: what silence means for this round (a delay notice's rule), else the
    shop's ``policy.offer_default_choice``.
    """
    supersede_open_offers(session, line, now)
    alternative = find_alternative(session, line.product, line.quantity, policy)
    offer = Offer(
        line=line,
        customer_id=line.order.customer_id,
        status=OfferStatus.OPEN,
        discount_percent=discount_for(session, line.product, policy),
        alternative_product_id=alternative.id if alternative is not None else None,
        expires_at=now + policy.offer_ttl,
        default_choice=default_choice or policy.offer_default_choice,
    )
    offer.alternative = alternative
    session.add(offer)
    session.flush()
    return offer


def accept_offer(
    session: Session,
    offer_id: int,
    choice: OfferChoice,
    *,
    via: str,
    now: dt.datetime,
    policy: Policy,
) -> OfferOutcome:
    """Apply a customer's choice; see the module docstring for the rules."""
    offer = _lock_offer(session, offer_id)
    if offer.status == OfferStatus.ACCEPTED:
        if offer.choice == choice:
            return OfferOutcome(
                offer, choice, accepted=True, repeated=True, new_line=_new_line(offer)
            )
        return OfferOutcome(offer, choice, accepted=False, refusal=Refusal.ALREADY_DECIDED)
    if offer.status == OfferStatus.SUPERSEDED:
        return OfferOutcome(offer, choice, accepted=False, refusal=Refusal.SUPERSEDED)
    if offer.status == OfferStatus.OPEN and offer.expires_at <= now:
        _expire(session, offer, now, policy)
    if offer.status == OfferStatus.EXPIRED:
        return OfferOutcome(offer, choice, accepted=False, refusal=Refusal.EXPIRED)

    refusal, new_line = _apply(session, offer, choice, now, policy, reason="customer_choice")
    if refusal is not None:
        return OfferOutcome(offer, choice, accepted=False, refusal=refusal)
    offer.status = OfferStatus.ACCEPTED
    offer.choice = choice
    offer.decided_at = now
    offer.decided_via = via
    events.record(
        session,
        EventKind.OFFER_ACCEPTED,
        offer.line,
        offer=offer,
        choice=choice.value,
        coupon_code=offer.coupon_code,
        new_line_id=new_line.id if new_line is not None else None,
        via=via,  # the confirmation goes back where the customer chose, when it can
        **_cancellation(session, offer, choice),
    )
    shopify_jobs.enqueue_choice(session, offer, choice, new_line, now)
    return OfferOutcome(offer, choice, accepted=True, new_line=new_line)


def _lock_offer(session: Session, offer_id: int) -> Offer:
    """Lock what a choice can change, in the lock order of ``store.locking``: the line's product
    and the alternative, then the line, then the offer; all re-read once locked."""
    found = session.execute(
        select(Offer.line_id, Offer.alternative_product_id, OrderLine.product_id)
        .join(OrderLine, OrderLine.id == Offer.line_id)
        .where(Offer.id == offer_id)
    ).first()
    if found is None:
        raise NotFound(f"offer {offer_id} does not exist")
    line_id, alternative_id, product_id = found
    lock_products(session, [product_id, alternative_id])
    lock_lines(session, [line_id])
    return session.scalars(
        select(Offer)
        .where(Offer.id == offer_id)
        .with_for_update(key_share=True)
        .execution_options(populate_existing=True)
    ).one()


def expire_offers(session: Session, now: dt.datetime, policy: Policy) -> list[Offer]:
    """Apply the default choice to every open offer past its expiry (a scheduled sweep).

    Everything the defaults may change is locked first, in the lock order of ``store.locking``
    (products, lines, offers), and the offers are re-checked once locked: another transaction
    may have decided one in between.
    """
    is_due = (Offer.status == OfferStatus.OPEN, Offer.expires_at <= now)
    targets = session.execute(
        select(Offer.id, Offer.line_id, Offer.alternative_product_id, OrderLine.product_id)
        .join(OrderLine, OrderLine.id == Offer.line_id)
        .where(*is_due)
    ).all()
    if not targets:
        return []
    lock_products(session, [p for row in targets for p in (row[2], row[3])])
    lock_lines(session, [row[1] for row in targets])
    # Only the offers whose products are locked: one made since then waits for the next sweep.
    locked = session.scalars(
        select(Offer)
        .where(Offer.id.in_([row[0] for row in targets]), *is_due)
        .order_by(Offer.id)
        .with_for_update(key_share=True)
        .execution_options(populate_existing=True)
    ).all()
    expired = sorted(locked, key=lambda offer: (offer.expires_at, offer.id))
    for offer in expired:
        _expire(session, offer, now, policy)
    return expired


def _expire(session: Session, offer: Offer, now: dt.datetime, policy: Policy) -> None:
    applied = offer.default_choice
    refusal, _ = _apply(session, offer, applied, now, policy, reason="no_answer")
    if refusal is not None:
        # The default could not be applied (say the alternative sold out): keep waiting.
        applied = OfferChoice.WAIT
        _apply(session, offer, applied, now, policy, reason="no_answer")
    offer.status = OfferStatus.EXPIRED
    offer.choice = applied
    offer.decided_at = now
    offer.decided_via = "expiry"
    events.record(
        session,
        EventKind.OFFER_EXPIRED,
        offer.line,
        offer=offer,
        choice=applied.value,
        coupon_code=offer.coupon_code,
        **_cancellation(session, offer, applied),
    )
    shopify_jobs.enqueue_choice(session, offer, applied, _new_line(offer), now)


def _cancellation(session: Session, offer: Offer, choice: OfferChoice) -> dict[str, object]:
    """What a cancel confirmation must say: what was cancelled, and the money refunded."""
    if choice != OfferChoice.CANCEL:
        return {}
    refund = session.scalars(select(Refund).where(Refund.line_id == offer.line_id)).first()
    scope = cancel_scope(offer.line)
    return {
        "order_cancelled": scope.whole_order,
        "other_lines": scope.other_lines,
        "cancelled_quantity": refund.quantity if refund is not None else offer.line.quantity,
        "refund_cents": refund.amount_cents if refund is not None else None,
        "refund_currency": refund.currency if refund is not None else None,
    }


def _apply(
    session: Session,
    offer: Offer,
    choice: OfferChoice,
    now: dt.datetime,
    policy: Policy,
    *,
    reason: str,
) -> tuple[Refusal | None, OrderLine | None]:
    line = offer.line
    if choice == OfferChoice.WAIT:
        # One coupon per line, ever: a later round of choices shows the code it already has.
        if line.coupon_code is None:
            line.coupon_code = _new_coupon_code(session)
        offer.coupon_code = line.coupon_code
        return None, None
    if choice == OfferChoice.CANCEL:
        cancel_line(session, line, now, reason=reason)
        return None, None
    if offer.alternative_product_id is None:
        return Refusal.NO_ALTERNATIVE, None
    new_line = _switch_line(session, line, offer.alternative_product_id, now)
    if new_line is None:
        return Refusal.ALTERNATIVE_UNAVAILABLE, None
    return None, new_line


def cancel_line(session: Session, line: OrderLine, now: dt.datetime, *, reason: str) -> None:
    """Cancel one line: its units go to the next waiting customers and its refund is owed.

    Units already shipped are the customer's: only the unshipped ones go back on sale, and only
    they are refunded. The order ends (``settle_order``) when nothing else of it remains.
    """
    released = line.allocated_quantity - line.shipped_quantity
    unshipped = line.quantity - line.shipped_quantity
    line.status = LineStatus.CANCELLED
    line.allocated_quantity = line.shipped_quantity
    line.backordered_quantity = 0
    session.flush()
    record_refund(session, line, quantity=unshipped, reason=reason, now=now)
    _release(session, line.product_id, released, now)
    settle_order(line.order)


def _switch_line(
    session: Session, line: OrderLine, alternative_id: int, now: dt.datetime
) -> OrderLine | None:
    # A line partly shipped is switched for its units still to come only.
    wanted = line.quantity - line.shipped_quantity
    taken = take_stock(session, alternative_id, wanted)
    if taken < wanted:
        add_stock(session, alternative_id, taken)
        return None
    alternative = session.get_one(Product, alternative_id)
    new_line = OrderLine(
        order=line.order,
        product_id=alternative_id,
        quantity=wanted,
        allocated_quantity=wanted,
        backordered_quantity=0,
        status=LineStatus.ALLOCATED,
        replaces_line_id=line.id,
        # What the switch sells, at today's price: the revenue kept (and a later refund's basis).
        unit_price_cents=alternative.price_cents,
        currency=alternative.currency,
        allocated_at=now,
    )
    session.add(new_line)
    session.flush()
    released = line.allocated_quantity - line.shipped_quantity
    line.status = LineStatus.SWITCHED
    line.allocated_quantity = line.shipped_quantity
    line.backordered_quantity = 0
    line.replaced_by_line_id = new_line.id
    session.flush()
    _release(session, line.product_id, released, now)
    return new_line


def _release(session: Session, product_id: int, quantity: int, now: dt.datetime) -> None:
    """Units a line gave up go to the next waiting customers, oldest first."""
    if quantity > 0:
        add_stock(session, product_id, quantity)
        allocate_waiting(session, product_id, now)


def _new_line(offer: Offer) -> OrderLine | None:
    return next(
        (line for line in offer.line.order.lines if line.replaces_line_id == offer.line_id), None
    )


def _new_coupon_code(session: Session) -> str:
    while True:
        code = "WAIT-" + "".join(secrets.choice(_COUPON_ALPHABET) for _ in range(8))
        taken = (
            select(Offer.id)
            .where(Offer.coupon_code == code)
            .union_all(select(OrderLine.id).where(OrderLine.coupon_code == code))
        )
        if session.scalar(taken.limit(1)) is None:
            return code
