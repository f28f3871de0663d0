"""prices in each currency's own minor units

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-03 09:50:00

Until now every parser stored price x 100 whatever the currency, while messages divided by the
currency's own ISO 4217 digits: JPY 1500 was stored as 150000 (shown "¥150,000"), KWD 12.5 as
1250 (shown "KWD1.250"). ``products.price_cents`` now means minor units of the row's currency
(see ``store/money.py``), so rows in currencies without 2 digits are rescaled: JPY (0 digits)
divided by 100, rounding half-up (the old parsers accepted 2 decimals, e.g. 1500.50 -> 1501),
KWD (3 digits) multiplied by 10. USD, EUR and the other 2-digit currencies are unchanged.

The digits come from Babel, as at run time, so the stored value and the formatting agree.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from babel.numbers import get_currency_precision

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _currencies() -> dict[str, int]:
    """Each currency in the table that does not have 2 digits, with its digits."""
    rows = op.get_bind().execute(sa.text("SELECT DISTINCT currency FROM products"))
    digits = {code: int(get_currency_precision(code)) for (code,) in rows}
    return {code: d for code, d in digits.items() if d != 2}


_PRODUCTS = sa.table(
    "products", sa.column("price_cents", sa.Integer), sa.column("currency", sa.String)
)


def _rescale(code: str, shift: int) -> None:
    """Multiply prices in ``code`` by 10**shift; a negative shift divides, rounding half-up."""
    price = _PRODUCTS.c.price_cents
    divisor = 10**-shift
    # Prices are non-negative integers, so (p + d/2) // d is half-up on both databases.
    value = price * 10**shift if shift > 0 else (price + divisor // 2) // divisor
    op.execute(_PRODUCTS.update().where(_PRODUCTS.c.currency == code).values(price_cents=value))


def upgrade() -> None:
    for code, digits in _currencies().items():
        _rescale(code, digits - 2)


def downgrade() -> None:
    for code, digits in _currencies().items():
        _rescale(code, 2 - digits)
