"""The ``backorder-bot`` command line: ``main`` holds the app and the small commands; each
larger area has its own module (agents, broadcasts, customers, inbound, orders, refunds), and
``support`` is what they share without importing ``main`` (which imports them)."""
