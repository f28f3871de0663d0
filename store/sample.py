"""Deterministic sample data: realistic enough for the demo, the tests and the benchmarks.

Several suppliers and categories, some products out of stock with supplier dates, customers in
the US, the UK, Spain and Mexico who speak English or Spanish, and orders placed over the last
weeks. The same ``seed`` always gives the same data.
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import phonenumbers
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from store.catalog import ProductData, upsert_product
from store.customers import CustomerData, upsert_customer
from store.eta import set_eta
from store.models import Channel, DomainEvent
from store.orders import LineRequest, place_order
from store.policy import Policy

SUPPLIERS = ("Northwind Traders", "Iberia Hogar S.L.", "Pacific Kitchen Co.", "Andes Textiles")

# (category, supplier index, [(name, price in cents)])
CATALOG: tuple[tuple[str, int, tuple[tuple[str, int], ...]], ...] = (
    (
        "kitchen",
        2,
        (
            ("Cast Iron Skillet 26 cm", 4_990),
            ("Enamelled Dutch Oven 5 L", 11_900),
            ("Carbon Steel Wok 32 cm", 5_490),
            ("Chef's Knife 20 cm", 8_900),
            ("Stoneware Mug, Sand", 1_490),
            ("Stoneware Mug, Slate", 1_490),
        ),
    ),
    (
        "home",
        1,
        (
            ("Linen Duvet Cover, Double", 12_900),
            ("Linen Duvet Cover, King", 14_900),
            ("Wool Throw, Ochre", 8_900),
            ("Wool Throw, Moss", 8_900),
            ("Ceramic Table Lamp", 7_900),
        ),
    ),
    (
        "outdoor",
        0,
        (
            ("Folding Camp Chair", 6_490),
            ("Insulated Bottle 750 ml", 2_990),
            ("Insulated Bottle 1 L", 3_290),
            ("Trail Backpack 28 L", 11_900),
        ),
    ),
    (
        "textiles",
        3,
        (
            ("Alpaca Scarf, Grey", 5_900),
            ("Alpaca Scarf, Rust", 5_900),
            ("Cotton Tea Towels (3)", 1_990),
        ),
    ),
)

# (region, locale, timezone, first names, last names, phone prefixes, digits after a prefix).
# US and UK numbers stay inside the ranges kept for fiction (555-xxxx, 020 7946 and friends).
REGIONS = (
    (
        "US",
        "en",
        "America/New_York",
        ("Emma", "Liam", "Olivia", "Noah", "Ava", "James", "Mia", "Lucas"),
        ("Smith", "Johnson", "Brown", "Garcia", "Miller", "Davis", "Wilson", "Moore"),
        tuple(f"+1{area}555" for area in (212, 415, 312, 617, 206, 305, 512, 303, 404, 702)),
        4,
    ),
    (
        "GB",
        "en-GB",
        "Europe/London",
        ("Oliver", "Amelia", "George", "Isla", "Harry", "Freya"),
        ("Taylor", "Evans", "Thomas", "Roberts", "Walker", "Wright"),
        ("+44207946", "+44113496", "+44117496", "+44121496", "+44131496", "+44161496"),
        4,
    ),
    (
        "ES",
        "es",
        "Europe/Madrid",
        ("Lucía", "Hugo", "Martina", "Mateo", "Sofía", "Pablo", "Julia", "Álvaro"),
        ("García", "Fernández", "López", "Martínez", "Sánchez", "Pérez", "Gómez", "Ruiz"),
        ("+346",),
        8,
    ),
    (
        "MX",
        "es-MX",
        "America/Mexico_City",
        ("Valentina", "Santiago", "Regina", "Diego", "Ximena", "Emiliano"),
        ("Hernández", "González", "Rodríguez", "Ramírez", "Flores", "Torres"),
        ("+5255",),
        8,
    ),
)


@dataclass(frozen=True, slots=True)
class SampleProduct:
    data: ProductData
    eta: dt.date | None


@dataclass(frozen=True, slots=True)
class SampleOrder:
    number: str
    phone: str
    placed_at: dt.datetime
    lines: tuple[LineRequest, ...]


@dataclass(frozen=True, slots=True)
class SampleData:
    products: list[SampleProduct]
    customers: list[CustomerData]
    orders: list[SampleOrder]


def generate(
    *, customers: int = 40, orders: int = 60, seed: int = 7, now: dt.datetime
) -> SampleData:
    if not 0 < customers <= MAX_CUSTOMERS:
        raise ValueError(f"customers must be between 1 and {MAX_CUSTOMERS:,}")
    if orders < 0:
        raise ValueError("orders cannot be negative")
    rng = random.Random(seed)  # noqa: S311 -- sample data must be reproducible, not secret
    products = list(_products(rng, now))
    people = list(_customers(rng, customers))
    skus = [p.data.sku for p in products]
    return SampleData(products, people, list(_orders(rng, orders, people, skus, now)))


def _products(rng: random.Random, now: dt.datetime) -> Iterator[SampleProduct]:
    for category, supplier_index, items in CATALOG:
        for i, (name, price) in enumerate(items, start=1):
            sku = f"{category[:3].upper()}-{i:03d}"
            # About a third of the catalogue is out of stock, with a supplier date for most.
            out = rng.random() < 0.35
            stock = 0 if out else rng.randint(3, 40)
            eta = (now + dt.timedelta(days=rng.randint(5, 45))).date() if out else None
            yield SampleProduct(
                ProductData(
                    sku=sku,
                    name=name,
                    price_cents=price,
                    category=category,
                    stock_on_hand=stock,
                    supplier=SUPPLIERS[supplier_index],
                ),
                eta,
            )


def _customers(rng: random.Random, count: int) -> Iterator[CustomerData]:
    used: set[str] = set()
    for i in range(count):
        region, locale, tz, firsts, lasts, prefixes, digits = REGIONS[i % len(REGIONS)]
        phone = _unique_phone(rng, prefixes, digits, used, region)
        yield CustomerData(
            name=f"{rng.choice(firsts)} {rng.choice(lasts)}",
            phone=phone,
            email=f"customer{i + 1}@example.com",
            locale=locale,
            timezone=tz,
            preferred_channel=Channel.TELEGRAM if rng.random() < 0.3 else Channel.SMS,
            external_ref=f"C{i + 1:06d}",
        )


MAX_CUSTOMERS = 200_000  # the fictional US and UK ranges hold about 60,000 numbers each


def _unique_phone(
    rng: random.Random, prefixes: tuple[str, ...], digits: int, used: set[str], region: str
) -> str:
    while True:
        phone = rng.choice(prefixes) + "".join(str(rng.randint(0, 9)) for _ in range(digits))
        if phone not in used and phonenumbers.is_valid_number(phonenumbers.parse(phone, region)):
            used.add(phone)
            return phone


def _orders(
    rng: random.Random,
    count: int,
    people: list[CustomerData],
    skus: list[str],
    now: dt.datetime,
) -> Iterator[SampleOrder]:
    for i in range(count):
        who = people[i % len(people)]
        assert who.phone is not None
        picked = rng.sample(skus, k=rng.choice((1, 1, 1, 2, 3)))
        lines = tuple(LineRequest(sku, rng.choice((1, 1, 1, 2, 3))) for sku in picked)
        placed_at = now - dt.timedelta(minutes=rng.randint(60, 40 * 24 * 60))
        yield SampleOrder(f"{1000 + i:06d}", who.phone, placed_at, lines)


def load(
    session: Session,
    data: SampleData,
    *,
    policy: Policy,
    now: dt.datetime,
    progress: Callable[[int], None] | None = None,
) -> None:
    """Write the sample through the store's own operations, oldest order first.

    The sample is history: its customers were told back then, so the events it records are
    marked handled and no old news is sent when a dispatcher starts.
    """
    before = session.scalar(select(func.max(DomainEvent.id))) or 0
    for product in data.products:
        upsert_product(session, product.data, now)
    session.flush()
    for product in data.products:
        if product.eta is not None:
            set_eta(session, product.data.sku, product.eta, source="sample", policy=policy, now=now)
    by_phone = {}
    for customer in data.customers:
        by_phone[customer.phone] = upsert_customer(session, customer)
    session.flush()
    for order in sorted(data.orders, key=lambda o: o.placed_at):
        place_order(
            session,
            number=order.number,
            customer=by_phone[order.phone],
            lines=order.lines,
            placed_at=order.placed_at,
            policy=policy,
            now=order.placed_at,
        )
        if progress is not None:
            progress(1)
    session.execute(
        update(DomainEvent)
        .where(DomainEvent.id > before, DomainEvent.handled_at.is_(None))
        .values(handled_at=now)
    )
