"""One order as the shop's systems see it, read through the driver alone: ``orders show``.

The same dictionary as ``bot.order_views.order_record(order, with_phone=True)`` builds from ORM
objects (``tests/store/test_order_sheet.py`` compares the two on both databases), without
SQLAlchemy: importing the ORM models cost ``orders show`` 0.3 s of CPU, and SQLAlchemy's Core
another 0.3 s (issue 16: <= 0.5 s). Five small statements, all by primary or foreign key, on a
``store.driver_read.Reader``. Enum columns hold their values (``store.models._enum``), so they
are read as text; SQLite hands dates and times back as the ISO text SQLAlchemy wrote.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from store.driver_read import Reader

__all__ = ["order_sheet"]

_ORDER = (
    "SELECT o.id, o.number, o.status, o.placed_at, c.name, c.phone"
    " FROM orders o JOIN customers c ON c.id = o.customer_id WHERE o.number = :number"
)
_LINES = (
    "SELECT l.id, p.sku, p.name, l.quantity, l.allocated_quantity, l.backordered_quantity,"
    " l.shipped_quantity, l.status, l.eta, l.eta_slips"
    " FROM order_lines l JOIN products p ON p.id = l.product_id"
    " WHERE l.order_id = :order_id ORDER BY l.id"
)
# ``store.queries.open_offer``: a line's open offer is its newest one (highest id) still open.
_OPEN_OFFERS = (
    "SELECT f.line_id, f.id, f.discount_percent, a.sku AS alternative_sku, f.expires_at"
    " FROM offers f JOIN order_lines l ON l.id = f.line_id"
    " LEFT JOIN products a ON a.id = f.alternative_product_id"
    " WHERE l.order_id = :order_id AND f.status = 'open' ORDER BY f.id"
)
_SHIPMENTS = (
    "SELECT s.id, s.created_at, s.carrier, s.tracking_number, s.tracking_url"
    " FROM shipments s WHERE s.order_id = :order_id ORDER BY s.id"
)
_SHIPPED_UNITS = (
    "SELECT sl.shipment_id, p.sku, sl.quantity FROM shipment_lines sl"
    " JOIN shipments s ON s.id = sl.shipment_id"
    " JOIN order_lines l ON l.id = sl.line_id JOIN products p ON p.id = l.product_id"
    " WHERE s.order_id = :order_id ORDER BY sl.id"
)


def order_sheet(reader: Reader, number: str) -> dict[str, Any] | None:
    """The order numbered ``number`` with its customer's name and phone; None if there is none."""
    found = reader.rows(_ORDER, {"number": number})
    if not found:
        return None
    order = found[0]
    key = {"order_id": order["id"]}
    offers = {row["line_id"]: row for row in reader.rows(_OPEN_OFFERS, key)}
    return {
        "number": order["number"],
        "status": order["status"],
        "placed_at": _utc(order["placed_at"]).isoformat(),
        "customer": {"name": order["name"], "phone": order["phone"]},
        "lines": [_line(row, offers.get(row["id"])) for row in reader.rows(_LINES, key)],
        "shipments": _shipments(reader, key),
    }


def _line(row: dict[str, Any], offer: dict[str, Any] | None) -> dict[str, Any]:
    return {
        "sku": row["sku"],
        "name": row["name"],
        "quantity": row["quantity"],
        "allocated": row["allocated_quantity"],
        "backordered": row["backordered_quantity"],
        "shipped": row["shipped_quantity"],
        "status": row["status"],
        "eta": _day(row["eta"]).isoformat() if row["eta"] else None,
        "eta_slips": row["eta_slips"],
        "open_offer": None
        if offer is None
        else {
            "id": offer["id"],
            "discount_percent": offer["discount_percent"],
            "alternative_sku": offer["alternative_sku"],
            "expires_at": _utc(offer["expires_at"]).isoformat(),
        },
    }


def _shipments(reader: Reader, key: dict[str, Any]) -> list[dict[str, Any]]:
    units: dict[int, list[dict[str, Any]]] = {}
    for row in reader.rows(_SHIPPED_UNITS, key):
        units.setdefault(row["shipment_id"], []).append(
            {"sku": row["sku"], "quantity": row["quantity"]}
        )
    return [
        {
            "id": row["id"],
            "created_at": _utc(row["created_at"]).isoformat(),
            "carrier": row["carrier"],
            "tracking_number": row["tracking_number"],
            "tracking_url": row["tracking_url"],
            "lines": units.get(row["id"], []),
        }
        for row in reader.rows(_SHIPMENTS, key)
    ]


def _utc(value: dt.datetime | str) -> dt.datetime:
    # Stored naive in UTC (``store.models.UTCDateTime``); the ORM hands them out aware.
    moment = dt.datetime.fromisoformat(value) if isinstance(value, str) else value
    return moment.replace(tzinfo=dt.UTC)


def _day(value: dt.date | str) -> dt.date:
    return dt.date.fromisoformat(value) if isinstance(value, str) else value
