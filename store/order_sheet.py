"""One order as the shop's systems see it, read with SQLAlchemy Core: ``orders show``.

The same dictionary as ``bot.order_views.order_record(order, with_phone=True)`` builds from ORM
objects (``tests/store/test_order_sheet.py`` compares the two on both databases), without the
ORM: importing the mapped models and configuring their mappers cost ``orders show`` 0.3 s of
CPU, most of its budget (issue 16: <= 0.5 s). Five small statements, all by primary or foreign
key. Enum columns hold their values (``store.models._enum``), so they are read as text.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import Connection, Date, DateTime, Integer, String, text

__all__ = ["order_sheet"]

_ORDER = text(
    "SELECT o.id, o.number, o.status, o.placed_at, c.name, c.phone"
    " FROM orders o JOIN customers c ON c.id = o.customer_id WHERE o.number = :number"
).columns(id=Integer, number=String, status=String, placed_at=DateTime, name=String, phone=String)
_LINES = text(
    "SELECT l.id, p.sku, p.name, l.quantity, l.allocated_quantity, l.backordered_quantity,"
    " l.shipped_quantity, l.status, l.eta, l.eta_slips"
    " FROM order_lines l JOIN products p ON p.id = l.product_id"
    " WHERE l.order_id = :order_id ORDER BY l.id"
).columns(eta=Date)
# ``store.queries.open_offer``: a line's open offer is its newest one (highest id) still open.
_OPEN_OFFERS = text(
    "SELECT f.line_id, f.id, f.discount_percent, a.sku AS alternative_sku, f.expires_at"
    " FROM offers f JOIN order_lines l ON l.id = f.line_id"
    " LEFT JOIN products a ON a.id = f.alternative_product_id"
    " WHERE l.order_id = :order_id AND f.status = 'open' ORDER BY f.id"
).columns(expires_at=DateTime)
_SHIPMENTS = text(
    "SELECT s.id, s.created_at, s.carrier, s.tracking_number, s.tracking_url"
    " FROM shipments s WHERE s.order_id = :order_id ORDER BY s.id"
).columns(created_at=DateTime)
_SHIPPED_UNITS = text(
    "SELECT sl.shipment_id, p.sku, sl.quantity FROM shipment_lines sl"
    " JOIN shipments s ON s.id = sl.shipment_id"
    " JOIN order_lines l ON l.id = sl.line_id JOIN products p ON p.id = l.product_id"
    " WHERE s.order_id = :order_id ORDER BY sl.id"
)


def order_sheet(conn: Connection, number: str) -> dict[str, Any] | None:
    """The order numbered ``number`` with its customer's name and phone; None if there is none."""
    order = conn.execute(_ORDER, {"number": number}).mappings().first()
    if order is None:
        return None
    key = {"order_id": order["id"]}
    offers = {row["line_id"]: row for row in conn.execute(_OPEN_OFFERS, key).mappings()}
    return {
        "number": order["number"],
        "status": order["status"],
        "placed_at": _utc(order["placed_at"]).isoformat(),
        "customer": {"name": order["name"], "phone": order["phone"]},
        "lines": [
            _line(row, offers.get(row["id"])) for row in conn.execute(_LINES, key).mappings()
        ],
        "shipments": _shipments(conn, key),
    }


def _line(row: Any, offer: Any) -> dict[str, Any]:
    return {
        "sku": row["sku"],
        "name": row["name"],
        "quantity": row["quantity"],
        "allocated": row["allocated_quantity"],
        "backordered": row["backordered_quantity"],
        "shipped": row["shipped_quantity"],
        "status": row["status"],
        "eta": row["eta"].isoformat() if row["eta"] else None,
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


def _shipments(conn: Connection, key: dict[str, Any]) -> list[dict[str, Any]]:
    units: dict[int, list[dict[str, Any]]] = {}
    for row in conn.execute(_SHIPPED_UNITS, key).mappings():
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
        for row in conn.execute(_SHIPMENTS, key).mappings()
    ]


def _utc(value: dt.datetime) -> dt.datetime:
    # Stored naive in UTC (``store.models.UTCDateTime``); the ORM hands them out aware.
    return value.replace(tzinfo=dt.UTC)
