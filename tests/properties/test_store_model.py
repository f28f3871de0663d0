"""The store's rules as a stateful model test: random sequences of the real operations, each in its
own transaction as the CLI, the API or a webhook would run it, with every rule checked after
every step (issue 12, "Proof"). Runs on SQLite and, with ``TEST_DATABASE_URL``, on PostgreSQL.

The model keeps only what the shop said: the count on its shelf per SKU (what a ``PUT`` or a
catalog import set, plus receipts, minus what shipped). Everything else is read back from the
database and checked against the rules:

- never more units promised than the shop had: free + reserved == the shop's count, free >= 0;
- no stock sits idle while someone waits for it;
- each line's quantities agree with its status; cancelled and switched lines hold nothing;
- at most one open offer per line, and only on a line that waits; at most one coupon per line;
- every order's status agrees with its lines; every cancelled line owes one refund, of the
  price it was sold at;
- every confirmation sent matches what the store did to the line.

Orders come one at a time (``place_order``: the API, webhooks) and in batches (``place_orders``:
a CSV import's chunk): both writers face every rule.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter

from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    rule,
    run_state_machine_as_test,
)
from sqlalchemy import func, select
from sqlalchemy.orm import Session, selectinload

from messaging.notifier import OrderLinks, ShopVoice, notify_pending
from store.allocation import RESERVING_STATUSES
from store.catalog import ProductData, upsert_product
from store.customers import CustomerData, find_by_phone, upsert_customer
from store.db import Database
from store.delays import check_delays
from store.errors import InvalidInput
from store.eta import set_eta
from store.models import (
    Base,
    Customer,
    DomainEvent,
    LineStatus,
    Offer,
    OfferChoice,
    OfferStatus,
    Order,
    OrderLine,
    OrderStatus,
    OutboxMessage,
    Product,
    Refund,
)
from store.offers import accept_offer, expire_offers
from store.order_bulk import BulkOrder, place_orders
from store.order_links import revoke
from store.orders import LineRequest, place_order
from store.policy import DEFAULT_POLICY
from store.shipments import ship
from store.stock import receive_stock

START = dt.datetime(2026, 11, 2, 9, 0, tzinfo=dt.UTC)
SKUS = ("MUG-ALT", "MUG", "TEA")  # an alternative exists before the product naming it
PRICES = {"MUG": 1_250, "MUG-ALT": 1_300, "TEA": 800}
VOICE = ShopVoice(
    "Casa Model", "help@casa.test", OrderLinks.from_secret("https://shop.test", b"k" * 32)
)
CONFIRMS = {"cancel_confirmed": LineStatus.CANCELLED, "switch_confirmed": LineStatus.SWITCHED}
_DONE = {LineStatus.SHIPPED, LineStatus.CANCELLED, LineStatus.SWITCHED}


def _product(sku: str, count: int) -> ProductData:
    return ProductData(
        sku=sku,
        name=f"Product {sku}",
        price_cents=PRICES[sku],
        category="kitchen",
        stock_on_hand=count,
        supplier="Acme Supply",
        alternatives=("MUG-ALT",) if sku == "MUG" else (),
    )


class StoreModel(RuleBasedStateMachine):
    db: Database

    def __init__(self) -> None:
        super().__init__()
        self.now = START
        self.shelf: dict[str, int] = {}
        self.orders = 0
        self.receipts: dict[str, tuple[str, int]] = {}
        with self.db.session() as session:
            for table in reversed(Base.metadata.sorted_tables):
                session.execute(table.delete())

    @initialize(counts=st.tuples(*(st.integers(0, 3) for _ in SKUS)))
    def catalog(self, counts: tuple[int, ...]) -> None:
        with self.db.session() as session:
            for sku, count in zip(SKUS, counts, strict=True):
                upsert_product(session, _product(sku, count), self.now)
                self.shelf[sku] = count
            for n in range(3):
                upsert_customer(
                    session,
                    CustomerData(name=f"Customer {n}", phone=f"+1415555010{n}"),
                )

    # ---- the operations -----------------------------------------------------------------

    @rule(
        customer=st.integers(0, 2),
        lines=st.lists(st.tuples(st.sampled_from(SKUS), st.integers(1, 3)), min_size=1, max_size=3),
        repeat=st.booleans(),
    )
    def place(self, customer: int, lines: list[tuple[str, int]], repeat: bool) -> None:
        self.orders += 1
        for _ in range(2 if repeat else 1):  # a client retrying the same order
            with self.db.session() as session:
                place_order(
                    session,
                    number=f"A{self.orders}",
                    customer=_customer(session, customer),
                    lines=[LineRequest(sku, qty) for sku, qty in lines],
                    placed_at=self.now,
                    policy=DEFAULT_POLICY,
                    now=self.now,
                )

    @rule(
        batch=st.lists(
            st.tuples(
                st.integers(0, 2),
                st.lists(
                    st.tuples(st.sampled_from(SKUS), st.integers(1, 3)), min_size=1, max_size=2
                ),
            ),
            min_size=1,
            max_size=4,
        ),
        again=st.booleans(),
    )
    def import_orders(self, batch: list[tuple[int, list[tuple[str, int]]]], again: bool) -> None:
        """A CSV import's chunk (``store.order_bulk``): several orders in one statement batch,
        and sometimes the same file imported again (each order then a repeat)."""
        first = self.orders + 1
        self.orders += len(batch)
        for _ in range(2 if again else 1):
            with self.db.session() as session:
                orders = [
                    BulkOrder(
                        number=f"A{first + i}",
                        customer_id=_customer(session, who).id,
                        customer_key=f"+1415555010{who}",
                        lines=[LineRequest(sku, qty) for sku, qty in lines],
                        placed_at=self.now,
                    )
                    for i, (who, lines) in enumerate(batch)
                ]
                place_orders(session, orders, DEFAULT_POLICY, self.now)

    @rule(sku=st.sampled_from(SKUS), count=st.integers(0, 8), twice=st.booleans())
    def put_count(self, sku: str, count: int, twice: bool) -> None:
        """PUT /api/products/{sku} or a catalog import row; clients retry, imports repeat."""
        for _ in range(2 if twice else 1):
            try:
                with self.db.session() as session:
                    upsert_product(session, _product(sku, count), self.now)
            except InvalidInput as exc:
                refused_on = exc.field
                with self.db.read_session() as session:
                    assert refused_on == "stock_on_hand"
                    assert count < _reserved(session, sku), "refused only below what is reserved"
                return
            self.shelf[sku] = count

    @rule(sku=st.sampled_from(SKUS), quantity=st.integers(1, 4), reference=st.integers(0, 5))
    def receive(self, sku: str, quantity: int, reference: int) -> None:
        ref = f"DEL-{reference}"
        if ref in self.receipts and self.receipts[ref] != (sku, quantity):
            return  # another delivery under the same reference is a Conflict, tested elsewhere
        with self.db.session() as session:
            result = receive_stock(session, sku, quantity, now=self.now, reference=ref)
        if not result.duplicate:
            self.shelf[sku] += quantity
        self.receipts[ref] = (sku, quantity)

    @rule(pick=st.integers(0, 20), choice=st.sampled_from(OfferChoice))
    def choose(self, pick: int, choice: OfferChoice) -> None:
        with self.db.session() as session:
            offers = session.scalars(
                select(Offer.id).where(Offer.status == OfferStatus.OPEN).order_by(Offer.id)
            ).all()
            if not offers:
                return
            event(f"chose {choice.value}")
            accept_offer(
                session,
                offers[pick % len(offers)],
                choice,
                via="sms",
                now=self.now,
                policy=DEFAULT_POLICY,
            )

    @rule(sku=st.sampled_from(SKUS), days=st.integers(1, 90))
    def supplier_date(self, sku: str, days: int) -> None:
        with self.db.session() as session:
            set_eta(
                session,
                sku,
                (self.now + dt.timedelta(days=days)).date(),
                source="supplier",
                policy=DEFAULT_POLICY,
                now=self.now,
            )

    @rule(pick=st.integers(0, 20), part=st.one_of(st.none(), st.integers(1, 3)))
    def ship_an_order(self, pick: int, part: int | None) -> None:
        """A whole order, or ``part`` units of its first line; refusals write nothing."""
        with self.db.session() as session:
            orders = session.scalars(select(Order).order_by(Order.id)).all()
            if not orders:
                return
            order = orders[pick % len(orders)]
            before = _shipped(session)
            sku = order.lines[0].product.sku if part is not None else None
            try:
                with session.begin_nested():
                    ship(session, order.number, sku=sku, quantity=part, now=self.now)
            except InvalidInput:
                assert _shipped(session) == before
                event("ship refused")
                return
            event("shipped")
            for sku_, units in _shipped(session).items():
                self.shelf[sku_] -= units - before.get(sku_, 0)

    @rule(days=st.integers(0, 20))
    def time_passes_and_sweeps_run(self, days: int) -> None:
        self.now += dt.timedelta(days=days, hours=1)
        with self.db.session() as session:
            expire_offers(session, self.now, DEFAULT_POLICY)
        with self.db.session() as session:
            check_delays(session, self.now, DEFAULT_POLICY)

    @rule()
    def notify(self) -> None:
        with self.db.session() as session:
            notify_pending(session, VOICE, self.now)

    @rule(pick=st.integers(0, 20))
    def revoke_a_link(self, pick: int) -> None:
        with self.db.session() as session:
            ids = session.scalars(select(Order.id).order_by(Order.id)).all()
            if ids:
                revoke(session, ids[pick % len(ids)], self.now)

    # ---- the rules ----------------------------------------------------------------------

    @invariant()
    def never_more_promised_than_the_shop_had(self) -> None:
        if not self.shelf:
            return
        # Three queries per step whatever the catalog's size (the invariants run after every
        # step, and were most of this test's time when they asked per product and per line).
        with self.db.read_session() as session:
            reserved = _reserved_by_sku(session)
            waiting = _waiting_by_sku(session)
            for product in session.scalars(select(Product)):
                assert product.stock_on_hand >= 0
                held = reserved.get(product.sku, 0)
                assert product.stock_on_hand + held == self.shelf[product.sku], product.sku
                idle = product.stock_on_hand != 0 and waiting.get(product.sku, 0) != 0
                assert not idle, "free units left idle"

    @invariant()
    def lines_offers_and_coupons_agree(self) -> None:
        with self.db.read_session() as session:
            for line in session.scalars(select(OrderLine).options(selectinload(OrderLine.offers))):
                _check_line(line)

    @invariant()
    def orders_and_refunds_agree_with_their_lines(self) -> None:
        with self.db.read_session() as session:
            refunds = {r.line_id: r for r in session.scalars(select(Refund))}
            orders = session.scalars(
                select(Order).options(
                    selectinload(Order.lines).joinedload(OrderLine.product, innerjoin=True)
                )
            )
            for order in orders:
                assert order.status == _expected_status(order), order.number
                for line in order.lines:
                    refund = refunds.pop(line.id, None)
                    if line.status == LineStatus.CANCELLED:
                        assert refund is not None, "a cancelled line owes its refund"
                        unshipped = line.quantity - line.shipped_quantity
                        assert refund.amount_cents == PRICES[line.product.sku] * unshipped
                    else:
                        assert refund is None
            assert not refunds

    @invariant()
    def every_confirmation_sent_matches_the_store(self) -> None:
        with self.db.read_session() as session:
            rows = session.execute(
                select(
                    OutboxMessage.message,
                    OutboxMessage.dedupe_key,
                    OrderLine.status,
                    OrderLine.shipped_quantity.label("shipped"),
                )
                .join(DomainEvent, DomainEvent.id == OutboxMessage.event_id)
                .join(OrderLine, OrderLine.id == DomainEvent.line_id)
            ).all()
            assert not [k for k, n in Counter(r.dedupe_key for r in rows).items() if n > 1]
            for row in rows:
                if row.message in CONFIRMS:
                    assert row.status == CONFIRMS[row.message], row
                if row.message == "shipped":
                    assert row.shipped > 0, row


def _customer(session: Session, n: int) -> Customer:
    customer = find_by_phone(session, f"+1415555010{n}")
    assert customer is not None
    return customer


def _expected_status(order: Order) -> OrderStatus:
    """Open until every line is shipped, cancelled or switched; then completed if anything
    shipped, else cancelled."""
    if any(line.status not in _DONE for line in order.lines):
        return OrderStatus.OPEN
    if any(line.shipped_quantity > 0 for line in order.lines):
        return OrderStatus.COMPLETED
    return OrderStatus.CANCELLED


def _shipped(session: Session) -> dict[str, int]:
    rows = session.execute(
        select(Product.sku, func.coalesce(func.sum(OrderLine.shipped_quantity), 0))
        .join(Product, Product.id == OrderLine.product_id)
        .group_by(Product.sku)
    )
    return {sku: int(units) for sku, units in rows}


def _reserved(session: Session, sku: str) -> int:
    """Units allocated to lines that still wait or are ready, and not shipped yet."""
    unshipped = OrderLine.allocated_quantity - OrderLine.shipped_quantity
    return (
        session.scalar(
            select(func.coalesce(func.sum(unshipped), 0))
            .join(Product, Product.id == OrderLine.product_id)
            .where(Product.sku == sku, OrderLine.status.in_(RESERVING_STATUSES))
        )
        or 0
    )


def _reserved_by_sku(session: Session) -> dict[str, int]:
    """``_reserved`` for every SKU at once."""
    unshipped = OrderLine.allocated_quantity - OrderLine.shipped_quantity
    rows = session.execute(
        select(Product.sku, func.coalesce(func.sum(unshipped), 0))
        .select_from(OrderLine)
        .join(Product, Product.id == OrderLine.product_id)
        .where(OrderLine.status.in_(RESERVING_STATUSES))
        .group_by(Product.sku)
    )
    return {sku: int(units) for sku, units in rows}


def _waiting_by_sku(session: Session) -> dict[str, int]:
    """Lines still waiting for units, per SKU."""
    rows = session.execute(
        select(Product.sku, func.count())
        .select_from(OrderLine)
        .join(Product, Product.id == OrderLine.product_id)
        .where(OrderLine.backordered_quantity > 0)
        .group_by(Product.sku)
    )
    return {sku: int(n) for sku, n in rows}


def _check_line(line: OrderLine) -> None:
    held = line.allocated_quantity + line.backordered_quantity
    assert 0 <= held <= line.quantity
    assert 0 <= line.shipped_quantity <= line.allocated_quantity
    if line.status == LineStatus.ALLOCATED:
        assert (line.allocated_quantity, line.backordered_quantity) == (line.quantity, 0)
    elif line.status == LineStatus.BACKORDERED:
        assert line.backordered_quantity > 0
        assert held == line.quantity
    elif line.status == LineStatus.SHIPPED:
        assert line.shipped_quantity == line.quantity
    elif line.status in (LineStatus.CANCELLED, LineStatus.SWITCHED):
        # Only units already shipped stay with a line that was cancelled or switched.
        assert line.backordered_quantity == 0
        assert line.allocated_quantity == line.shipped_quantity, f"a {line.status} line holds units"
    open_offers = [o for o in line.offers if o.status == OfferStatus.OPEN]
    assert len(open_offers) <= 1
    assert not open_offers or line.status == LineStatus.BACKORDERED
    coupons = {o.coupon_code for o in line.offers if o.coupon_code is not None}
    assert coupons <= ({line.coupon_code} if line.coupon_code else set())


def test_the_rules_hold_over_random_sequences_of_operations(committed_db: Database) -> None:
    StoreModel.db = committed_db  # real commits, one per operation; emptied afterwards
    run_state_machine_as_test(
        StoreModel,
        settings=settings(
            max_examples=60,
            stateful_step_count=40,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        ),
    )
