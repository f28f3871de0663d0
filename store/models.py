"""The shop's tables, SQLAlchemy 2 typed ORM.

Conventions: timestamps are stored as naive UTC and handed back timezone-aware (``UTCDateTime``),
so SQLite and PostgreSQL behave alike; money is integer minor units of the row's currency
(SQLite has no decimal type; see store/money.py); status columns are non-native enums, stored
as their string values on both databases.
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    Date,
    DateTime,
    Dialect,
    Enum,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    false,
    literal_column,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from store.choices import OfferChoice  # its own module: the settings need it, not the ORM

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


# 64-bit ids on PostgreSQL; on SQLite only INTEGER PRIMARY KEY is an auto-incrementing rowid.
BIG_ID = BigInteger().with_variant(Integer, "sqlite")


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class UTCDateTime(TypeDecorator[dt.datetime]):
    """A timezone-aware UTC datetime, stored naive so both databases compare it the same way."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given; store code must use aware UTC datetimes")
        return value.astimezone(dt.UTC).replace(tzinfo=None)

    def process_result_value(self, value: Any, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        assert isinstance(value, dt.datetime)
        return value.replace(tzinfo=dt.UTC)


def _enum(cls: type[StrEnum], name: str) -> Enum:
    return Enum(
        cls,
        name=name,
        native_enum=False,
        create_constraint=True,
        length=32,
        values_callable=lambda members: [m.value for m in members],
        validate_strings=True,
    )


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: ClassVar[dict[Any, Any]] = {dt.datetime: UTCDateTime()}


class Channel(StrEnum):
    SMS = "sms"
    TELEGRAM = "telegram"
    EMAIL = "email"  # suppliers only (``store.supplier_requests``); customers are not e-mailed


# The channels a customer is reached on (broadcasts, preferred channel, message templates).
CUSTOMER_CHANNELS = (Channel.SMS, Channel.TELEGRAM)


class ReachState(StrEnum):
    """Whether a channel can reach a customer. Only ``active`` may be sent to."""

    ACTIVE = "active"
    OPTED_OUT = "opted_out"  # the customer said STOP (or /stop); only they can undo it
    UNREACHABLE = "unreachable"  # e.g. the Telegram bot was blocked, the chat is gone
    INVALID = "invalid"  # e.g. Twilio 21211: the number cannot receive SMS


class Customer(Base):
    __tablename__ = "customers"

    id: Mapped[int] = mapped_column(primary_key=True)
    external_ref: Mapped[str | None] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    phone: Mapped[str | None] = mapped_column(String(20), unique=True)  # E.164
    email: Mapped[str | None] = mapped_column(String(320))
    locale: Mapped[str] = mapped_column(String(16), default="en")
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    telegram_chat_id: Mapped[int | None] = mapped_column(BigInteger, unique=True)
    telegram_user_id: Mapped[int | None] = mapped_column(BigInteger)
    preferred_channel: Mapped[Channel] = mapped_column(
        _enum(Channel, "preferred_channel"), default=Channel.SMS
    )
    sms_state: Mapped[ReachState] = mapped_column(
        _enum(ReachState, "sms_state"), default=ReachState.ACTIVE
    )
    sms_state_changed_at: Mapped[dt.datetime | None]
    sms_consent_at: Mapped[dt.datetime | None]
    telegram_state: Mapped[ReachState] = mapped_column(
        _enum(ReachState, "telegram_state"), default=ReachState.ACTIVE
    )
    telegram_state_changed_at: Mapped[dt.datetime | None]
    telegram_consent_at: Mapped[dt.datetime | None]
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    # Set while the customer waits for a person (store/inbox.py): the bot stays quiet.
    handed_off_at: Mapped[dt.datetime | None]

    orders: Mapped[list[Order]] = relationship(back_populates="customer")


class Supplier(Base):
    __tablename__ = "suppliers"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    lead_time_days: Mapped[int | None]
    contact: Mapped[str | None] = mapped_column(String(320))
    # Where and how the shop asks for dates (``store.supplier_requests``); e-mail first.
    email: Mapped[str | None] = mapped_column(String(320))
    phone: Mapped[str | None] = mapped_column(String(20))  # E.164
    telegram_chat_id: Mapped[int | None] = mapped_column(BigInteger)
    locale: Mapped[str] = mapped_column(String(16), default="en")
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")


class Product(Base):
    __tablename__ = "products"
    __table_args__ = (
        CheckConstraint("stock_on_hand >= 0", name="stock_not_negative"),
        CheckConstraint("price_cents >= 0", name="price_not_negative"),
        CheckConstraint(
            "discount_percent IS NULL OR (discount_percent >= 0 AND discount_percent <= 100)",
            name="discount_range",
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    sku: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    price_cents: Mapped[int]  # minor units of ``currency`` (JPY: yen, KWD: fils): store/money.py
    currency: Mapped[str] = mapped_column(String(3), default="USD")
    category: Mapped[str] = mapped_column(String(100), index=True)
    stock_on_hand: Mapped[int] = mapped_column(default=0)
    supplier_id: Mapped[int | None] = mapped_column(ForeignKey("suppliers.id"), index=True)
    # The supplier's current expected date for new stock; history lives in eta_changes.
    eta: Mapped[dt.date | None] = mapped_column(Date)
    discount_percent: Mapped[int | None]  # overrides the category's and the default
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    supplier: Mapped[Supplier | None] = relationship()
    alternatives: Mapped[list[ProductAlternative]] = relationship(
        foreign_keys="ProductAlternative.product_id",
        order_by="ProductAlternative.position",
        cascade="all, delete-orphan",
    )


class ProductAlternative(Base):
    """An explicit substitute chosen by the shop, tried in ``position`` order."""

    __tablename__ = "product_alternatives"

    product_id: Mapped[int] = mapped_column(ForeignKey("products.id"), primary_key=True)
    alternative_id: Mapped[int] = mapped_column(ForeignKey("products.id"), primary_key=True)
    position: Mapped[int] = mapped_column(default=0)

    alternative: Mapped[Product] = relationship(foreign_keys=[alternative_id])


class CategoryDiscount(Base):
    __tablename__ = "category_discounts"
    __table_args__ = (
        CheckConstraint("discount_percent >= 0 AND discount_percent <= 100", name="range"),
    )

    category: Mapped[str] = mapped_column(String(100), primary_key=True)
    discount_percent: Mapped[int]


class PurchaseOrderStatus(StrEnum):
    OPEN = "open"
    RECEIVED = "received"
    CANCELLED = "cancelled"


class PurchaseOrder(Base):
    __tablename__ = "purchase_orders"

    id: Mapped[int] = mapped_column(primary_key=True)
    reference: Mapped[str] = mapped_column(String(64), unique=True)
    supplier_id: Mapped[int] = mapped_column(ForeignKey("suppliers.id"))
    status: Mapped[PurchaseOrderStatus] = mapped_column(
        _enum(PurchaseOrderStatus, "status"), default=PurchaseOrderStatus.OPEN
    )
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    supplier: Mapped[Supplier] = relationship()
    lines: Mapped[list[PurchaseOrderLine]] = relationship(
        back_populates="purchase_order", cascade="all, delete-orphan"
    )


class PurchaseOrderLine(Base):
    __tablename__ = "purchase_order_lines"
    __table_args__ = (
        UniqueConstraint("purchase_order_id", "product_id"),
        CheckConstraint("quantity > 0", name="quantity_positive"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    purchase_order_id: Mapped[int] = mapped_column(ForeignKey("purchase_orders.id"))
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id"), index=True)
    quantity: Mapped[int]
    received_quantity: Mapped[int] = mapped_column(default=0)
    expected_date: Mapped[dt.date | None] = mapped_column(Date)

    purchase_order: Mapped[PurchaseOrder] = relationship(back_populates="lines")
    product: Mapped[Product] = relationship()


class EtaChange(Base):
    """Every date a supplier or an agent gave for a product, in order: the slip history."""

    __tablename__ = "eta_changes"
    # A product's dates in order: the scorecard finds the date in force at each receipt.
    __table_args__ = (Index("ix_eta_changes_product_created", "product_id", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id"), index=True)
    old_eta: Mapped[dt.date | None] = mapped_column(Date)
    new_eta: Mapped[dt.date | None] = mapped_column(Date)
    source: Mapped[str] = mapped_column(String(32))  # "agent", "purchase_order", "import", ...
    reason: Mapped[str | None] = mapped_column(Text)
    purchase_order_line_id: Mapped[int | None] = mapped_column(
        ForeignKey("purchase_order_lines.id")
    )
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class StockReceipt(Base):
    """Goods in. ``reference`` makes a receipt idempotent: the same delivery counts once."""

    __tablename__ = "stock_receipts"
    __table_args__ = (CheckConstraint("quantity > 0", name="quantity_positive"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id"), index=True)
    quantity: Mapped[int]
    reference: Mapped[str | None] = mapped_column(String(64), unique=True)
    allocated_quantity: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class OrderStatus(StrEnum):
    OPEN = "open"
    CANCELLED = "cancelled"
    COMPLETED = "completed"


class Order(Base):
    __tablename__ = "orders"

    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[str] = mapped_column(String(64), unique=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    placed_at: Mapped[dt.datetime] = mapped_column(index=True)
    status: Mapped[OrderStatus] = mapped_column(
        _enum(OrderStatus, "status"), default=OrderStatus.OPEN
    )
    # A digest of what was submitted, so a repeated submission can be told from a conflicting one.
    content_digest: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    customer: Mapped[Customer] = relationship(back_populates="orders")
    lines: Mapped[list[OrderLine]] = relationship(
        back_populates="order", order_by="OrderLine.id", cascade="all, delete-orphan"
    )
    shipments: Mapped[list[Shipment]] = relationship(order_by="Shipment.id", viewonly=True)


class LineStatus(StrEnum):
    ALLOCATED = "allocated"  # everything is reserved; ready to ship
    BACKORDERED = "backordered"  # some or all units wait for stock
    SWITCHED = "switched"  # replaced by a line for an alternative product
    CANCELLED = "cancelled"
    SHIPPED = "shipped"


class OrderLine(Base):
    __tablename__ = "order_lines"
    __table_args__ = (
        CheckConstraint("quantity > 0", name="quantity_positive"),
        CheckConstraint(
            "allocated_quantity >= 0 AND backordered_quantity >= 0"
            " AND allocated_quantity + backordered_quantity <= quantity",
            name="quantities_consistent",
        ),
        # Only reserved units ship: shipped units are a part of the allocated ones.
        CheckConstraint(
            "shipped_quantity >= 0 AND shipped_quantity <= allocated_quantity",
            name="shipped_within_allocated",
        ),
        Index("ix_order_lines_waiting", "product_id", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id"), index=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id"))
    quantity: Mapped[int]
    allocated_quantity: Mapped[int] = mapped_column(default=0)
    backordered_quantity: Mapped[int] = mapped_column(default=0)
    # Units of ``allocated_quantity`` that have left the shelf (the sum of its shipment lines).
    shipped_quantity: Mapped[int] = mapped_column(default=0, server_default="0")
    status: Mapped[LineStatus] = mapped_column(_enum(LineStatus, "status"))
    # The date the customer was last told; compared with new supplier dates for the threshold.
    eta: Mapped[dt.date | None] = mapped_column(Date)
    first_eta: Mapped[dt.date | None] = mapped_column(Date)
    eta_slips: Mapped[int] = mapped_column(default=0)
    # The revised date the last delay notice was about: one notice per slip.
    delay_notice_at: Mapped[dt.datetime | None]
    delay_notice_eta: Mapped[dt.date | None] = mapped_column(Date)
    delay_notices: Mapped[int] = mapped_column(default=0)
    replaced_by_line_id: Mapped[int | None] = mapped_column(ForeignKey("order_lines.id"))
    # The one wait coupon this line ever gets: minted on its first "wait", shown again on later
    # rounds of choices (slips, delay notices). Unique, so two lines never share a code either.
    coupon_code: Mapped[str | None] = mapped_column(String(32), unique=True)
    replaces_line_id: Mapped[int | None] = mapped_column(ForeignKey("order_lines.id"))
    # The price of one unit when the order was placed, in the currency's minor units: what a
    # cancellation refunds, whatever the catalog says later. None only on lines placed before
    # prices were kept (the product's price at the time of the migration was copied in).
    unit_price_cents: Mapped[int | None]
    currency: Mapped[str | None] = mapped_column(String(3))
    # When the line began to wait (None: never backordered), when its last unit was reserved,
    # when its last unit shipped: written as each happens, for store/analytics (migration 0017).
    backordered_at: Mapped[dt.datetime | None]
    allocated_at: Mapped[dt.datetime | None]
    shipped_at: Mapped[dt.datetime | None]
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    order: Mapped[Order] = relationship(back_populates="lines")
    product: Mapped[Product] = relationship()
    offers: Mapped[list[Offer]] = relationship(
        back_populates="line", order_by="Offer.id", foreign_keys="Offer.line_id"
    )


class OfferStatus(StrEnum):
    OPEN = "open"
    ACCEPTED = "accepted"
    EXPIRED = "expired"  # nobody answered in time: the default choice was applied
    SUPERSEDED = "superseded"  # a newer offer replaced it, or the line no longer waits


class Offer(Base):
    """One round of the three choices for one waiting line.

    Only one offer per line is open at a time; the switch choice exists only when an
    alternative was in stock when the offer was made.
    """

    __tablename__ = "offers"
    __table_args__ = (Index("ix_offers_status_expires_at", "status", "expires_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    line_id: Mapped[int] = mapped_column(ForeignKey("order_lines.id"), index=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    status: Mapped[OfferStatus] = mapped_column(
        _enum(OfferStatus, "status"), default=OfferStatus.OPEN
    )
    discount_percent: Mapped[int]
    alternative_product_id: Mapped[int | None] = mapped_column(ForeignKey("products.id"))
    expires_at: Mapped[dt.datetime]
    default_choice: Mapped[OfferChoice] = mapped_column(_enum(OfferChoice, "default_choice"))
    choice: Mapped[OfferChoice | None] = mapped_column(_enum(OfferChoice, "choice"))
    # A copy of the line's one coupon (``OrderLine.coupon_code``) when this offer chose to wait.
    coupon_code: Mapped[str | None] = mapped_column(String(32), index=True)
    decided_at: Mapped[dt.datetime | None]
    decided_via: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    line: Mapped[OrderLine] = relationship(back_populates="offers", foreign_keys=[line_id])
    alternative: Mapped[Product | None] = relationship()


class EventKind(StrEnum):
    BACKORDERED = "backordered"
    ETA_CHANGED = "eta_changed"
    DELAY_NOTICE = "delay_notice"
    PARTIALLY_ALLOCATED = "partially_allocated"
    READY_TO_SHIP = "ready_to_ship"
    OFFER_ACCEPTED = "offer_accepted"
    OFFER_EXPIRED = "offer_expired"
    SHIPPED = "shipped"  # one per shipment, on its first line; the payload lists the rest


class Shipment(Base):
    """Units of one order handed to a carrier, with what the customer needs to follow them.

    ``idempotency_key`` is unique: a client's retry of the same request finds this shipment
    instead of shipping again; ``request_digest`` tells a retry from a different request.
    """

    __tablename__ = "shipments"

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id"), index=True)
    carrier: Mapped[str | None] = mapped_column(String(64))
    tracking_number: Mapped[str | None] = mapped_column(String(64))
    tracking_url: Mapped[str | None] = mapped_column(String(500))
    idempotency_key: Mapped[str | None] = mapped_column(String(128), unique=True)
    request_digest: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    lines: Mapped[list[ShipmentLine]] = relationship(
        back_populates="shipment", order_by="ShipmentLine.id", cascade="all, delete-orphan"
    )
    order: Mapped[Order] = relationship(viewonly=True)


class ShipmentLine(Base):
    __tablename__ = "shipment_lines"
    __table_args__ = (
        UniqueConstraint("shipment_id", "line_id"),
        CheckConstraint("quantity > 0", name="quantity_positive"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    shipment_id: Mapped[int] = mapped_column(ForeignKey("shipments.id"), index=True)
    line_id: Mapped[int] = mapped_column(ForeignKey("order_lines.id"), index=True)
    quantity: Mapped[int]

    shipment: Mapped[Shipment] = relationship(back_populates="lines")
    line: Mapped[OrderLine] = relationship()


class DomainEvent(Base):
    """Something that happened to an order, written in the same transaction as the change.

    The notifier turns unhandled events into outbox rows and sets ``handled_at``.
    """

    __tablename__ = "domain_events"
    __table_args__ = (Index("ix_domain_events_unhandled", "handled_at", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id"), index=True)
    order_id: Mapped[int | None] = mapped_column(ForeignKey("orders.id"))
    line_id: Mapped[int | None] = mapped_column(ForeignKey("order_lines.id"))
    product_id: Mapped[int | None] = mapped_column(ForeignKey("products.id"))
    offer_id: Mapped[int | None] = mapped_column(ForeignKey("offers.id"))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    handled_at: Mapped[dt.datetime | None]


class OutboxStatus(StrEnum):
    """Where an outgoing message is. Moves forward only (see ``OUTBOX_RANK``)."""

    PENDING = "pending"  # waiting for its due time
    CLAIMED = "claimed"  # a worker holds it; its request has not left yet
    SENDING = "sending"  # the request is leaving or left; no answer recorded yet
    SENT = "sent"  # the provider accepted it
    DELIVERED = "delivered"
    UNDELIVERED = "undelivered"
    FAILED = "failed"  # dead letter: permanent error, or retries exhausted
    SKIPPED = "skipped"  # not sent: opted out / unreachable when its turn came
    UNKNOWN = "unknown"  # a worker died with the request in flight: to reconcile, not resend


class OutboxMessage(Base):
    """A rendered message for one customer on one channel, written in the same transaction as
    the change that caused it. ``dedupe_key`` makes one cause yield one message per customer."""

    __tablename__ = "outbox_messages"
    # One index serves claims (status, due_at) and lease recovery (few rows per status):
    # every index costs each of the 100,000 inserts of a fan-out.
    __table_args__ = (Index("ix_outbox_messages_due", "status", "due_at"),)

    id: Mapped[int] = mapped_column(BIG_ID, primary_key=True)
    dedupe_key: Mapped[str] = mapped_column(String(200), unique=True)
    # A message goes to a customer or, for supplier requests (e-mail), to a supplier.
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id"), index=True)
    supplier_id: Mapped[int | None] = mapped_column(ForeignKey("suppliers.id"))
    channel: Mapped[Channel] = mapped_column(_enum(Channel, "channel"))
    address: Mapped[str] = mapped_column(String(320))  # an e-mail address may be long
    message: Mapped[str] = mapped_column(String(64))  # the template's name
    locale: Mapped[str] = mapped_column(String(16))
    body: Mapped[str] = mapped_column(Text)
    buttons: Mapped[list[list[str]] | None] = mapped_column(JSON)
    event_id: Mapped[int | None] = mapped_column(ForeignKey("domain_events.id"))
    broadcast_id: Mapped[int | None]
    # Urgent messages answer something the customer just did; they ignore quiet hours.
    urgent: Mapped[bool] = mapped_column(default=False)
    status: Mapped[OutboxStatus] = mapped_column(
        _enum(OutboxStatus, "status"), default=OutboxStatus.PENDING
    )
    attempts: Mapped[int] = mapped_column(default=0)
    due_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    claimed_by: Mapped[str | None] = mapped_column(String(64))
    lease_expires_at: Mapped[dt.datetime | None]
    provider_id: Mapped[str | None] = mapped_column(String(64), index=True)
    last_error: Mapped[str | None] = mapped_column(String(300))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[dt.datetime | None]
    finished_at: Mapped[dt.datetime | None]


class DeliveryAttempt(Base):
    """One try at handing a message to a provider, whatever came of it."""

    __tablename__ = "delivery_attempts"

    id: Mapped[int] = mapped_column(BIG_ID, primary_key=True)
    outbox_id: Mapped[int] = mapped_column(
        BIG_ID,
        ForeignKey("outbox_messages.id"),
        index=True,
    )
    attempt: Mapped[int]
    worker: Mapped[str] = mapped_column(String(64))
    outcome: Mapped[str] = mapped_column(String(32))  # sent, retry, failed, skipped, unknown, ...
    reason: Mapped[str | None] = mapped_column(String(64))
    detail: Mapped[str | None] = mapped_column(String(300))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class HeldStatusReport(Base):
    """A provider's delivery report for a message id no outbox row carries yet.

    Twilio may report ``sent`` or ``delivered`` before the dispatcher has written down the
    ``MessageSid`` its API call returned (its outcomes are committed in groups), or for a send
    whose answer was lost until reconciliation finds it. The report waits here; the
    dispatcher's housekeeping applies it once the id appears, and forgets it after a day.
    """

    __tablename__ = "held_status_reports"

    provider_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    status: Mapped[OutboxStatus] = mapped_column(_enum(OutboxStatus, "status"))
    error: Mapped[str | None] = mapped_column(String(300))
    received_at: Mapped[dt.datetime] = mapped_column(default=utcnow, index=True)


class InboundMessage(Base):
    """One message a customer sent us, logged with the provider's id before it is handled.

    ``(channel, provider_id)`` is unique: a provider's retry of the same message (Twilio's
    ``MessageSid``, Telegram's ``update_id``) finds the row and is not handled again.
    ``handled_at`` is set in the transaction that acts on the message, so a crash between
    logging and handling leaves the row to be handled by the next delivery or the recovery.
    """

    __tablename__ = "inbound_messages"
    __table_args__ = (
        UniqueConstraint("channel", "provider_id", name="uq_inbound_messages_provider_id"),
        # Recent misses of one sender, for rate limiting order-number guessing.
        Index("ix_inbound_messages_sender", "channel", "sender", "received_at"),
        Index("ix_inbound_messages_unhandled", "handled_at", "channel"),
        # A customer's timeline, newest first (store/customer_timeline.py).
        Index("ix_inbound_messages_customer", "customer_id", "received_at"),
    )

    id: Mapped[int] = mapped_column(BIG_ID, primary_key=True)
    channel: Mapped[Channel] = mapped_column(_enum(Channel, "channel"))
    provider_id: Mapped[str] = mapped_column(String(64))
    sender: Mapped[str] = mapped_column(String(64))  # E.164 phone, or the Telegram chat id
    body: Mapped[str | None] = mapped_column(Text)  # truncated; the provider caps messages
    # The raw Telegram update, so an update acknowledged but not handled can be replayed.
    payload: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    received_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    handled_at: Mapped[dt.datetime | None]
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id"))
    intent: Mapped[str | None] = mapped_column(String(32))
    actions: Mapped[str | None] = mapped_column(String(128))
    reply_message: Mapped[str | None] = mapped_column(String(64))
    missed: Mapped[bool] = mapped_column(default=False)  # named an order or offer not theirs


class TelegramLinkToken(Base):
    """A one-time ``/start <token>`` link that ties a Telegram chat to a customer.

    Only the SHA-256 of the token is stored: a database leak does not hand out live links.
    """

    __tablename__ = "telegram_link_tokens"

    id: Mapped[int] = mapped_column(BIG_ID, primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[dt.datetime]
    used_at: Mapped[dt.datetime | None]


class ShopifyOutcome(StrEnum):
    HANDLED = "handled"  # acted on (or nothing to do: a repeat of an order already placed)
    REFUSED = "refused"  # nothing written; ``reason`` says why (unknown SKU, no phone, ...)
    STALE = "stale"  # older than what we hold for that order: changes nothing
    IGNORED = "ignored"  # a topic we do not act on; recorded so a retry is still a repeat


class ShopifyWebhook(Base):
    """One Shopify webhook delivery, by ``X-Shopify-Webhook-Id`` (the same on Shopify's retries).

    The row is written in the transaction that acts on the webhook, so a retry of a webhook
    already handled (or refused) finds it and does nothing (``bot.integrations.shopify.ingest``).
    """

    __tablename__ = "shopify_webhooks"
    __table_args__ = (Index("ix_shopify_webhooks_outcome", "outcome", "received_at"),)

    id: Mapped[int] = mapped_column(BIG_ID, primary_key=True)
    webhook_id: Mapped[str] = mapped_column(String(64), unique=True)
    topic: Mapped[str] = mapped_column(String(64))
    shop_domain: Mapped[str | None] = mapped_column(String(255))
    resource_id: Mapped[str | None] = mapped_column(String(64))  # the order, item or product
    outcome: Mapped[ShopifyOutcome] = mapped_column(_enum(ShopifyOutcome, "outcome"))
    reason: Mapped[str | None] = mapped_column(String(500))
    received_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class ShopifyOrder(Base):
    """A Shopify order placed here: its id (fulfillments name only that) and the ``updated_at``
    of the newest webhook applied, so an older ``orders/updated`` changes nothing."""

    __tablename__ = "shopify_orders"

    shopify_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id"), unique=True)
    updated_at: Mapped[dt.datetime]


class ShopifyInventoryItem(Base):
    """Which SKU a Shopify inventory item counts (``inventory_levels/update`` names only the
    item), filled from the variants of ``products/update``."""

    __tablename__ = "shopify_inventory_items"

    inventory_item_id: Mapped[int] = mapped_column(
        BigInteger, primary_key=True, autoincrement=False
    )
    sku: Mapped[str] = mapped_column(String(64), index=True)
    variant_id: Mapped[int | None] = mapped_column(BigInteger)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


# Broadcast rows are a small minority of the outbox: a partial index finds them for progress
# and cancel without taxing the 100,000-row inserts of an event fan-out (NULL rows are not indexed).
Index(
    "ix_outbox_messages_broadcast_id",
    OutboxMessage.broadcast_id,
    postgresql_where=OutboxMessage.broadcast_id.is_not(None),
    sqlite_where=OutboxMessage.broadcast_id.is_not(None),
)


# The analytics read only lines that waited (a third of them or fewer): a partial index holding
# every column they read lets them skip the table, and costs nothing for lines never backordered.
Index(
    "ix_order_lines_backordered",
    OrderLine.backordered_at,
    OrderLine.product_id,
    OrderLine.status,
    OrderLine.quantity,
    OrderLine.unit_price_cents,
    OrderLine.currency,
    OrderLine.replaced_by_line_id,
    OrderLine.allocated_at,
    OrderLine.shipped_at,
    postgresql_where=OrderLine.backordered_at.is_not(None),
    sqlite_where=OrderLine.backordered_at.is_not(None),
)
# The same lines in SKU order: revenue per SKU groups them as the index stores them, so SQLite
# streams the groups instead of sorting a third of the lines first.
Index(
    "ix_order_lines_backordered_product",
    OrderLine.product_id,
    OrderLine.status,
    OrderLine.currency,
    OrderLine.quantity,
    OrderLine.unit_price_cents,
    postgresql_where=OrderLine.backordered_at.is_not(None),
    sqlite_where=OrderLine.backordered_at.is_not(None),
)
# The lines still waiting, per SKU, with their units: the scorecard's open backorders read a
# few per cent of the lines instead of walking (product_id, status) over all of them. The
# query names the status as a literal, so the planners can prove it implies this condition.
Index(
    "ix_order_lines_open_backorders",
    OrderLine.product_id,
    OrderLine.backordered_quantity,
    postgresql_where=OrderLine.status == literal_column("'backordered'"),
    sqlite_where=OrderLine.status == literal_column("'backordered'"),
)
# Decided offers with what the choices-by-wait chart reads: the chart stays off the offers
# table (statuses are bound parameters there, so the index is not partial).
Index(
    "ix_offers_decisions",
    Offer.status,
    Offer.choice,
    Offer.line_id,
    Offer.decided_at,
    Offer.decided_via,
)


class Agent(Base):
    """A support agent: signs in to the dashboard, and may use the Telegram agent commands.

    ``password_hash`` is a self-describing scrypt string (``store.agents``); the password itself
    is never stored. ``telegram_user_id`` is the Telegram allow-list: only a listed user's
    commands are obeyed.
    """

    __tablename__ = "agents"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    telegram_user_id: Mapped[int | None] = mapped_column(BigInteger, unique=True)
    disabled: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    # Admins add, disable and reset other agents in the dashboard (migration 0019).
    is_admin: Mapped[bool] = mapped_column(default=False, server_default=false())


class AgentSignIn(Base):
    """One live dashboard session: signing out deletes it, so a copied cookie stops working.

    Only the SHA-256 of the cookie's nonce is stored (a database leak hands out no sessions).
    Rows go with their agent (``ON DELETE CASCADE``); expired ones are swept at each sign-in.
    """

    __tablename__ = "agent_sign_ins"

    nonce_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    agent_id: Mapped[int] = mapped_column(ForeignKey("agents.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[dt.datetime] = mapped_column(index=True)


class BroadcastStatus(StrEnum):
    """Where a broadcast is. ``done`` is reached when none of its messages can still be sent."""

    QUEUEING = "queueing"  # its outbox rows are being written (resumable after a crash)
    SCHEDULED = "scheduled"  # all rows written; they are due at ``send_at``
    SENDING = "sending"  # all rows written and due; the dispatcher is working through them
    DONE = "done"
    CANCELLED = "cancelled"


class Broadcast(Base):
    """One agent's message to an audience: what, to whom, when, and how far it got.

    ``idempotency_key`` is unique: a double submit finds the first broadcast instead of
    creating a second. ``cursor_customer_id`` is the last customer whose row is committed, so
    queueing resumes after a crash where it stopped (the outbox's per-customer dedupe key makes
    a repeat harmless anyway).
    """

    __tablename__ = "broadcasts"

    id: Mapped[int] = mapped_column(primary_key=True)
    idempotency_key: Mapped[str] = mapped_column(String(128), unique=True)
    # A hash of who + audience + content + send time: finds an accidental repeat without a key.
    content_hash: Mapped[str] = mapped_column(String(64), index=True)
    created_by: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    filters: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    template: Mapped[str | None] = mapped_column(String(64))
    text: Mapped[str | None] = mapped_column(Text)
    # The text per locale ({"es": "..."}) for customers of that language; None when there are none.
    translations: Mapped[dict[str, str] | None] = mapped_column(JSON)
    status: Mapped[BroadcastStatus] = mapped_column(
        _enum(BroadcastStatus, "status"), default=BroadcastStatus.QUEUEING
    )
    send_at: Mapped[dt.datetime | None]
    cursor_customer_id: Mapped[int] = mapped_column(default=0)
    # What queueing found: queued by channel and locale, skipped by reason, quiet-hours deferrals.
    counts: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    queued_at: Mapped[dt.datetime | None]
    finished_at: Mapped[dt.datetime | None]
    cancelled_at: Mapped[dt.datetime | None]
    cancelled_by: Mapped[str | None] = mapped_column(String(100))


class AuditEntry(Base):
    """Who did what, when: broadcasts created, queued and cancelled; agents added and removed."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(BIG_ID, primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(default=utcnow, index=True)
    actor: Mapped[str] = mapped_column(String(100))
    action: Mapped[str] = mapped_column(String(64))
    subject: Mapped[str | None] = mapped_column(String(100))
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class Refund(Base):
    """Money the shop owes a customer for a cancelled line: the customer has been told the amount.

    One row per cancelled line (unique), written in the transaction that cancels it. ``settled_at``
    is set when the shop has paid it back (``backorder-bot refunds settle``, the API); until then
    it is listed as due, so a promised refund cannot be forgotten.
    """

    __tablename__ = "refunds"
    __table_args__ = (CheckConstraint("amount_cents >= 0", name="amount_not_negative"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id"), index=True)
    line_id: Mapped[int] = mapped_column(ForeignKey("order_lines.id"), unique=True)
    quantity: Mapped[int]
    amount_cents: Mapped[int]
    currency: Mapped[str] = mapped_column(String(3))
    reason: Mapped[str] = mapped_column(String(32))  # "customer_choice", "no_answer", "agent"
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow, index=True)
    settled_at: Mapped[dt.datetime | None]
    settled_by: Mapped[str | None] = mapped_column(String(100))
    reference: Mapped[str | None] = mapped_column(String(200))  # the payment provider's id

    line: Mapped[OrderLine] = relationship()


class OrderPageLink(Base):
    """The key to an order's personal page, ``/o/<token>`` (see ``store.order_links``).

    One row per order. Only the SHA-256 of the token is stored; the token is derived from
    ``nonce`` with a server-side key, so a copy of the database alone opens no page.
    ``revoked_at`` closes the current token; the next message about the order issues a new one.
    """

    __tablename__ = "order_page_links"

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id"), unique=True)
    nonce: Mapped[str] = mapped_column(String(32))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    issued_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    revoked_at: Mapped[dt.datetime | None]


__all__ = [
    "Agent",
    "AgentSignIn",
    "AuditEntry",
    "Base",
    "Broadcast",
    "BroadcastStatus",
    "CategoryDiscount",
    "Channel",
    "Customer",
    "DeliveryAttempt",
    "DomainEvent",
    "EtaChange",
    "EventKind",
    "InboundMessage",
    "LineStatus",
    "Offer",
    "OfferChoice",
    "OfferStatus",
    "Order",
    "OrderLine",
    "OrderPageLink",
    "OrderStatus",
    "OutboxMessage",
    "OutboxStatus",
    "Product",
    "ProductAlternative",
    "PurchaseOrder",
    "PurchaseOrderLine",
    "PurchaseOrderStatus",
    "ReachState",
    "Refund",
    "Shipment",
    "ShipmentLine",
    "ShopifyInventoryItem",
    "ShopifyOrder",
    "ShopifyOutcome",
    "ShopifyWebhook",
    "StockReceipt",
    "Supplier",
    "TelegramLinkToken",
    "utcnow",
]

from store import tables_api_tokens as _tables_api_tokens  # noqa: E402,F401
from store import tables_consent as _tables_consent  # noqa: E402,F401
from store import tables_dashboard as _tables_dashboard  # noqa: E402,F401
from store import tables_inbox as _tables_inbox  # noqa: E402,F401
from store import tables_orderfeed as _tables_orderfeed  # noqa: E402,F401
from store import tables_shopify as _tables_shopify  # noqa: E402,F401
from store import tables_suppliers as _tables_suppliers  # noqa: E402,F401
