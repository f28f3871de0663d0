"""``backorder-bot orders ship NUMBER``: hand an order's reserved units to a carrier.

Without ``--sku`` every reserved, unshipped unit of the order ships; with ``--sku`` (and
``--quantity``) part of one line. The customer gets a ``shipped`` message with the carrier and
tracking link given (``store.shipments``, ``messaging.notifier``). Refusals exit 1 and write
nothing.
"""

from __future__ import annotations

from typing import Annotated

import typer

from bot.cli.support import context, fail, out, print_json
from bot.order_views import shipment_record
from store.errors import StoreError
from store.models import utcnow
from store.shipments import ship as ship_units


def ship(
    ctx: typer.Context,
    number: Annotated[str, typer.Argument(help="The order number.")],
    sku: Annotated[str | None, typer.Option(help="Ship from this line only.")] = None,
    quantity: Annotated[
        int | None, typer.Option(min=1, help="Units of --sku (default: all reserved).")
    ] = None,
    carrier: Annotated[str | None, typer.Option(help="Who carries the parcel.")] = None,
    tracking: Annotated[str | None, typer.Option(help="The tracking number.")] = None,
    tracking_url: Annotated[
        str | None, typer.Option("--tracking-url", help="An http(s) link to follow the parcel.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Ship the order's reserved units (all of them, or --quantity of --sku)."""
    if quantity is not None and sku is None:
        fail("--quantity needs --sku: which line do the units ship from?", code=2)
    try:
        with context(ctx).database().session() as session:
            result = ship_units(
                session,
                number,
                sku=sku,
                quantity=quantity,
                carrier=carrier,
                tracking=tracking,
                tracking_url=tracking_url,
                now=utcnow(),
            )
            session.flush()
            view = shipment_record(result.shipment)
            status = result.shipment.order.status.value
    except StoreError as exc:
        fail(str(exc))
    if as_json:
        print_json({**view, "order": {"number": number, "status": status}})
        return
    units = ", ".join(f"{item['quantity']} x {item['sku']}" for item in view["lines"])
    out.print(f"Shipped {units} of order {number} (shipment {view['id']}).", highlight=False)
    out.print(f"Order {number} is {status}.", highlight=False)
