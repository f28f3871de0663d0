"""The catalog CSV's optional supplier contact columns.

``supplier_email``, ``supplier_phone``, ``supplier_locale`` and ``supplier_timezone`` set the
contact of the row's ``supplier`` (``store.suppliers``). A bad e-mail, phone, language or zone
is that row's error, and so is a contact without a supplier; two rows giving the same supplier
different contacts are both named. Like every import error, any of them writes nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy.orm import Session

from bot.importing.csv_parsers import parse_product
from bot.importing.csv_reading import RowError
from store.catalog import ProductData
from store.errors import InvalidInput
from store.suppliers import ContactData, check_contact, set_contact

CONTACT_COLUMNS = ("supplier_email", "supplier_phone", "supplier_locale", "supplier_timezone")


@dataclass(frozen=True, slots=True)
class CatalogRow(ProductData):
    """A product row and, when its contact columns are filled in, its supplier's contact."""

    contact: ContactData | None = None


def catalog_parser(default_region: str) -> Callable[[dict[str, str]], ProductData]:
    def parse(values: dict[str, str]) -> ProductData:
        product = parse_product(values)
        given = {column: values.get(column, "").strip() for column in CONTACT_COLUMNS}
        if not any(given.values()):
            return product
        if product.supplier is None:
            raise ValueError("supplier contact columns are filled in but supplier is empty")
        raw = ContactData(
            email=given["supplier_email"] or None,
            phone=given["supplier_phone"] or None,
            locale=given["supplier_locale"] or None,
            timezone=given["supplier_timezone"] or None,
        )
        try:
            contact = check_contact(raw, default_region)
        except InvalidInput as exc:
            raise ValueError(f"supplier {product.supplier!r}: {exc}") from None
        fields = {name: getattr(product, name) for name in ProductData.__dataclass_fields__}
        return CatalogRow(**fields, contact=contact)

    return parse


def check_contacts(parsed: list[tuple[int, ProductData]]) -> list[RowError]:
    """Rows that give one supplier two different contacts."""
    first: dict[str, tuple[int, ContactData]] = {}
    errors = []
    for line, data in parsed:
        contact = data.contact if isinstance(data, CatalogRow) else None
        if contact is None or data.supplier is None:
            continue
        seen = first.setdefault(data.supplier, (line, contact))
        if seen[1] != contact:
            errors.append(
                RowError(
                    line,
                    f"supplier {data.supplier!r} has a different contact on line {seen[0]}",
                )
            )
    return errors


def apply_contact(session: Session, data: ProductData) -> None:
    """After the row's product (and so its supplier) is written."""
    if isinstance(data, CatalogRow) and data.contact is not None and data.supplier is not None:
        set_contact(session, data.supplier, data.contact)
