"""Shopify, inbound: ``POST /webhooks/shopify`` (``webhook``), checked by ``verification``, read
by ``mapping`` and applied by ``topics``, exactly once per webhook id (``ingest``)."""
