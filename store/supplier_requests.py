"""Asking suppliers for dates: who must be asked, the private supplier link, and the answers.

The sweep (:func:`plan_sweep`) looks at every supplier with a contact: e-mail first (suppliers
live in e-mail), else Telegram, else SMS (:func:`contact_of`):

- a supplier with an **open** request (not answered, revoked or expired) is not asked again;
  ``reminder_after`` after the request it gets one reminder (same link), and ``reminder_after``
  after the reminder the request is **escalated**: it shows on the agents' board;
- otherwise a new request is made when some of its SKUs have backordered units and no date,
  or a date that has passed without a stock receipt since. A SKU answered "unknown" is left
  alone for ``reminder_after`` (asking again the next morning would be nagging).

The link's token is derived like the order page's (``store.order_links``): ``HMAC(key,
request id + nonce)``, 128 bits in base64url; only its SHA-256 is stored, so the reminder can
carry the same link and a copy of the database opens no page. Unknown, revoked, expired and
malformed tokens all come back ``None`` from :func:`find_open_request`.

Answers are applied by ``store.supplier_answers``.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import secrets
from dataclasses import dataclass, field

from sqlalchemy import func, select
from sqlalchemy.orm import Session, selectinload

from store.eta import shop_today
from store.models import (
    Channel,
    LineStatus,
    Order,
    OrderLine,
    Product,
    StockReceipt,
    Supplier,
)
from store.order_links import TOKEN_BYTES, hash_token, is_well_formed
from store.page_paths import SUPPLIER_PAGE_PATH
from store.policy import Policy
from store.tables_suppliers import SupplierAnswer, SupplierRequest, SupplierRequestItem

__all__ = [
    "PAGE_PATH",
    "Asked",
    "SweepPlan",
    "contact_of",
    "find_open_request",
    "not_answering",
    "plan_sweep",
    "request_token",
    "revoke_request",
]

PAGE_PATH = SUPPLIER_PAGE_PATH
NONCE_BYTES = 16


def request_token(key: bytes, request_id: int, nonce: str) -> str:
    """The token of a request's link: HMAC of the request and its nonce, 128 bits, base64url."""
    mac = hmac.new(key, f"supplier-page:{request_id}:{nonce}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac[:TOKEN_BYTES]).rstrip(b"=").decode("ascii")


@dataclass(frozen=True, slots=True)
class AskedItem:
    sku: str
    name: str
    units_waiting: int
    oldest_placed_at: dt.datetime
    eta: dt.date | None


def contact_of(supplier: Supplier) -> tuple[Channel, str] | None:
    """Where a supplier is asked: its e-mail, else its Telegram chat, else its phone by SMS."""
    if supplier.email:
        return Channel.EMAIL, supplier.email
    if supplier.telegram_chat_id is not None:
        return Channel.TELEGRAM, str(supplier.telegram_chat_id)
    if supplier.phone:
        return Channel.SMS, supplier.phone
    return None


@dataclass(frozen=True, slots=True)
class Asked:
    """One message to send (an e-mail, or an SMS or Telegram message with the same link): a
    new request or a reminder of an open one."""

    request_id: int
    supplier_id: int
    supplier_name: str
    channel: Channel
    address: str
    locale: str
    timezone: str
    token: str
    asked_at: dt.datetime
    expires_at: dt.datetime
    reminder: bool
    items: list[AskedItem]


@dataclass(slots=True)
class SweepPlan:
    asked: list[Asked] = field(default_factory=list)
    reminded: list[Asked] = field(default_factory=list)
    escalated: list[str] = field(default_factory=list)  # supplier names
    no_contact: list[str] = field(default_factory=list)  # owe dates, but have no contact


def plan_sweep(
    session: Session,
    *,
    now: dt.datetime,
    policy: Policy,
    key: bytes,
    reminder_after: dt.timedelta,
    link_ttl: dt.timedelta,
) -> SweepPlan:
    """Create the requests and reminders due at ``now``; the caller sends them in this session."""
    plan = SweepPlan()
    today = shop_today(now, policy)
    owed = _owed_items(session, today, now - reminder_after)
    open_requests = _open_requests(session, now)
    for supplier in session.scalars(select(Supplier).order_by(Supplier.id)):
        request = open_requests.get(supplier.id)
        if request is not None:
            _follow_up(request, supplier, now, key, reminder_after, plan)
            continue
        items = owed.get(supplier.id)
        if not items:
            continue
        if contact_of(supplier) is None:
            plan.no_contact.append(supplier.name)
            continue
        plan.asked.append(_new_request(session, supplier, items, now, key, link_ttl))
    return plan


def _follow_up(
    request: SupplierRequest,
    supplier: Supplier,
    now: dt.datetime,
    key: bytes,
    reminder_after: dt.timedelta,
    plan: SweepPlan,
) -> None:
    if request.reminded_at is None and now - request.created_at >= reminder_after:
        request.reminded_at = now
        if contact_of(supplier) is not None:
            plan.reminded.append(_asked(request, supplier, key, reminder=True))
    elif (
        request.reminded_at is not None
        and request.escalated_at is None
        and now - request.reminded_at >= reminder_after
    ):
        request.escalated_at = now
        plan.escalated.append(supplier.name)


def _new_request(
    session: Session,
    supplier: Supplier,
    items: list[AskedItem],
    now: dt.datetime,
    key: bytes,
    link_ttl: dt.timedelta,
) -> Asked:
    # The token needs the row's id, so the row is written with a placeholder hash first.
    nonce = secrets.token_hex(NONCE_BYTES)
    request = SupplierRequest(
        supplier_id=supplier.id,
        nonce=nonce,
        token_hash=secrets.token_hex(32),
        created_at=now,
        expires_at=now + link_ttl,
    )
    session.add(request)
    session.flush()
    request.token_hash = hash_token(request_token(key, request.id, nonce))
    products = dict(
        session.execute(
            select(Product.sku, Product.id).where(Product.sku.in_([i.sku for i in items]))
        ).all()
    )
    for item in items:
        request.items.append(
            SupplierRequestItem(
                product_id=products[item.sku],
                units_waiting=item.units_waiting,
                oldest_placed_at=item.oldest_placed_at,
                eta_asked=item.eta,
            )
        )
    session.flush()
    return _asked(request, supplier, key, reminder=False, items=items)


def _asked(
    request: SupplierRequest,
    supplier: Supplier,
    key: bytes,
    *,
    reminder: bool,
    items: list[AskedItem] | None = None,
) -> Asked:
    contact = contact_of(supplier)
    assert contact is not None
    if items is None:
        items = [
            AskedItem(
                item.product.sku,
                item.product.name,
                item.units_waiting,
                item.oldest_placed_at,
                item.product.eta,
            )
            for item in request.items
        ]
    return Asked(
        request_id=request.id,
        supplier_id=supplier.id,
        supplier_name=supplier.name,
        channel=contact[0],
        address=contact[1],
        locale=supplier.locale,
        timezone=supplier.timezone,
        token=request_token(key, request.id, request.nonce),
        asked_at=request.created_at,
        expires_at=request.expires_at,
        reminder=reminder,
        items=items,
    )


def _open_requests(session: Session, now: dt.datetime) -> dict[int, SupplierRequest]:
    rows = session.scalars(
        select(SupplierRequest)
        .where(
            SupplierRequest.answered_at.is_(None),
            SupplierRequest.revoked_at.is_(None),
            SupplierRequest.expires_at > now,
        )
        .options(selectinload(SupplierRequest.items).selectinload(SupplierRequestItem.product))
        .order_by(SupplierRequest.id)
    )
    return {request.supplier_id: request for request in rows}


def _owed_items(
    session: Session, today: dt.date, unknown_since: dt.datetime
) -> dict[int, list[AskedItem]]:
    """Per supplier, the SKUs with backordered units and no date, or a passed date."""
    waiting = (
        select(
            Product.supplier_id,
            Product.id,
            Product.sku,
            Product.name,
            Product.eta,
            func.sum(OrderLine.backordered_quantity),
            func.min(Order.placed_at),
        )
        .join(OrderLine, OrderLine.product_id == Product.id)
        .join(Order, Order.id == OrderLine.order_id)
        .where(
            Product.supplier_id.is_not(None),
            OrderLine.status == LineStatus.BACKORDERED,
            OrderLine.backordered_quantity > 0,
        )
        .group_by(Product.supplier_id, Product.id, Product.sku, Product.name, Product.eta)
        .order_by(Product.supplier_id, Product.sku)
    )
    recently_unknown = _recently_unknown(session, unknown_since)
    owed: dict[int, list[AskedItem]] = {}
    for supplier_id, product_id, sku, name, eta, units, oldest in session.execute(waiting):
        if eta is None and product_id in recently_unknown:
            continue
        if eta is not None and (eta >= today or _received_since(session, product_id, eta)):
            continue
        oldest_at = oldest if oldest.tzinfo else oldest.replace(tzinfo=dt.UTC)
        item = AskedItem(sku, name, int(units), oldest_at, eta)
        owed.setdefault(supplier_id or 0, []).append(item)
    return owed


def _recently_unknown(session: Session, since: dt.datetime) -> set[int]:
    rows = session.scalars(
        select(SupplierRequestItem.product_id)
        .join(SupplierRequest, SupplierRequest.id == SupplierRequestItem.request_id)
        .where(
            SupplierRequestItem.answer == SupplierAnswer.UNKNOWN,
            SupplierRequest.answered_at >= since,
        )
    )
    return set(rows)


def _received_since(session: Session, product_id: int, day: dt.date) -> bool:
    start = dt.datetime.combine(day, dt.time(), tzinfo=dt.UTC)
    found = session.scalar(
        select(StockReceipt.id)
        .where(StockReceipt.product_id == product_id, StockReceipt.created_at >= start)
        .limit(1)
    )
    return found is not None


def find_open_request(session: Session, token: str, now: dt.datetime) -> SupplierRequest | None:
    """The request a live token opens; None for unknown, revoked, expired, malformed alike.

    An answered request still opens (the supplier may correct a date) until it expires.
    """
    digest = hash_token(token)
    request = session.scalars(
        select(SupplierRequest)
        .where(SupplierRequest.token_hash == digest)
        .options(
            selectinload(SupplierRequest.items).selectinload(SupplierRequestItem.product),
            selectinload(SupplierRequest.items).selectinload(SupplierRequestItem.line_answers),
            selectinload(SupplierRequest.supplier),
        )
    ).first()
    if request is None or not hmac.compare_digest(request.token_hash, digest):
        return None
    if request.revoked_at is not None or request.expires_at <= now or not is_well_formed(token):
        return None
    return request


def revoke_request(session: Session, request_id: int, now: dt.datetime) -> bool:
    request = session.get(SupplierRequest, request_id)
    if request is None or request.revoked_at is not None:
        return False
    request.revoked_at = now
    return True


@dataclass(frozen=True, slots=True)
class Silent:
    """A supplier that did not answer a request or its reminder: for the agents' board."""

    supplier: str
    email: str | None
    asked_at: dt.datetime
    reminded_at: dt.datetime | None
    escalated_at: dt.datetime
    skus: list[str]


def not_answering(session: Session, now: dt.datetime) -> list[Silent]:
    """Escalated requests still open, oldest first."""
    rows = session.scalars(
        select(SupplierRequest)
        .where(
            SupplierRequest.escalated_at.is_not(None),
            SupplierRequest.answered_at.is_(None),
            SupplierRequest.revoked_at.is_(None),
        )
        .options(
            selectinload(SupplierRequest.supplier),
            selectinload(SupplierRequest.items).selectinload(SupplierRequestItem.product),
        )
        .order_by(SupplierRequest.created_at)
    )
    return [
        Silent(
            r.supplier.name,
            r.supplier.email,
            r.created_at,
            r.reminded_at,
            r.escalated_at or now,
            [i.product.sku for i in r.items],
        )
        for r in rows
    ]
