"""``PUT /api/products/{sku}`` and ``POST /api/products/{sku}/eta``: the catalog and its dates.

Both go through the store's own operations (``upsert_product``, ``set_eta``), so more stock
fills waiting lines at once and a new date tells the waiting customers, exactly as the CLI and
the CSV import do. One transaction per request.
"""

import asyncio
import datetime as dt
from decimal import Decimal
from typing import Annotated, Any

from fastapi import APIRouter, Path
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from bot.settings import Settings
from bot.web.api.errors import MAX_INT, ApiRoute, refusals
from store.allocation import reserved_units
from store.catalog import ProductData, upsert_product
from store.db import Database
from store.eta import set_eta
from store.models import Product, utcnow
from store.money import amount_text, check_currency, parse_amount

Sku = Annotated[str, Path(min_length=1, max_length=64)]


class ProductIn(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    price: Decimal = Field(
        ge=0,
        max_digits=12,
        description='in the currency\'s units, with at most its decimals: "14.90" USD, "1500" JPY,'
        ' "12.500" KWD',
    )
    category: str = Field(min_length=1, max_length=100)
    stock_on_hand: int = Field(ge=0, le=MAX_INT)
    supplier: str | None = Field(default=None, max_length=200)
    alternatives: list[Annotated[str, Field(min_length=1, max_length=64)]] = Field(
        default_factory=list, description="SKUs offered instead, best first"
    )
    discount_percent: int | None = Field(default=None, ge=0, le=100)
    currency: str = Field(default="USD", pattern=r"^[A-Z]{3}$")


class EtaIn(BaseModel):
    eta: dt.date = Field(description="YYYY-MM-DD")
    reason: str | None = Field(default=None, max_length=500)


def product_view(product: Product, reserved: int) -> dict[str, Any]:
    """``price`` is a decimal string in the currency's units ("1500" JPY, "12.500" KWD) and
    ``price_minor`` the integer stored (minor units of ``currency``; see ``store/money.py``).
    ``stock_on_hand`` is the shop's count (on the shelf), as it was PUT; ``reserved`` of
    those units are promised to orders not yet shipped, ``available`` are free to promise."""
    return {
        "sku": product.sku,
        "name": product.name,
        "price": amount_text(product.price_cents, product.currency),
        "price_minor": product.price_cents,
        "currency": product.currency,
        "category": product.category,
        "stock_on_hand": product.stock_on_hand + reserved,
        "reserved": reserved,
        "available": product.stock_on_hand,
        "supplier": product.supplier.name if product.supplier else None,
        "alternatives": [a.alternative.sku for a in product.alternatives],
        "discount_percent": product.discount_percent,
        "eta": product.eta.isoformat() if product.eta else None,
    }


def router(settings: Settings, db: Database) -> APIRouter:
    routes = APIRouter(tags=["products"], route_class=ApiRoute)

    @routes.put("/products/{sku}")
    async def put_product(sku: Sku, body: ProductIn) -> dict[str, Any]:
        """Create or update a product. ``stock_on_hand`` is the units on the shop's shelf,
        including those reserved for orders not yet shipped; the same PUT twice changes
        nothing the second time. Units that become free fill waiting lines, oldest first.
        A count below the reserved units is refused (422)."""
        with refusals():
            currency = check_currency(body.currency)
            price = parse_amount(body.price, currency)
        data = ProductData(
            sku=sku,
            name=body.name,
            price_cents=price,
            category=body.category,
            stock_on_hand=body.stock_on_hand,
            supplier=body.supplier,
            alternatives=tuple(body.alternatives),
            discount_percent=body.discount_percent,
            currency=currency,
        )

        def upsert(session: Session) -> dict[str, Any]:
            product = upsert_product(session, data, utcnow())
            return product_view(product, reserved_units(session, product.id))

        def write() -> dict[str, Any]:
            return db.transaction(upsert)

        with refusals(["body", "alternatives"]):
            return await asyncio.to_thread(write)

    @routes.post("/products/{sku}/eta")
    async def post_eta(sku: Sku, body: EtaIn) -> dict[str, Any]:
        """A new supplier date; waiting customers are told if it moved enough."""

        def set_date(session: Session) -> dict[str, Any]:
            result = set_eta(
                session,
                sku,
                body.eta,
                source="api",
                reason=body.reason,
                policy=settings.policy(),
                now=utcnow(),
            )
            return {
                "sku": sku,
                "old_eta": result.old_eta.isoformat() if result.old_eta else None,
                "eta": body.eta.isoformat(),
                "lines_told": len(result.changed_line_ids),
                "delay_notices": len(result.delay_lines),
            }

        def write() -> dict[str, Any]:
            return db.transaction(set_date)

        with refusals(["body", "eta"]):
            return await asyncio.to_thread(write)

    return routes
