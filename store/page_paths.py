"""Where the customers' order pages and the suppliers' pages live, as constants of their own.

The log filter (``bot.log_redaction``, installed by every CLI command) needs only these two
strings; importing them from ``store.order_links`` and ``store.supplier_requests`` pulled in
the ORM models and half the store, 0.3 s of a command's start-up.
"""

ORDER_PAGE_PATH = "/o/"
SUPPLIER_PAGE_PATH = "/s/"
