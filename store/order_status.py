"""An order's status follows its lines: open while any line can still ship.

A line is finished when it is shipped, cancelled or switched (its replacement is a line of the
same order, so it is judged on its own). A finished order is ``completed`` when any unit of it
reached the customer, and ``cancelled`` when none did.
"""

from __future__ import annotations

from store.models import LineStatus, Order, OrderStatus

FINISHED = frozenset({LineStatus.SHIPPED, LineStatus.CANCELLED, LineStatus.SWITCHED})


def settle_order(order: Order) -> OrderStatus:
    """Set and return the order's status from its (loaded, current) lines."""
    if order.lines and all(line.status in FINISHED for line in order.lines):
        shipped = any(line.shipped_quantity > 0 for line in order.lines)
        order.status = OrderStatus.COMPLETED if shipped else OrderStatus.CANCELLED
    return order.status
