"""Shopify's webhook signature: base64(HMAC-SHA256(app secret, raw body)), as Shopify's own
libraries check it (``shopify-app-js`` ``lib/utils/hmac-validator.ts``).

The raw bytes are signed, never a re-serialised JSON: any change of spacing or key order is a
different body. The comparison is constant-time (``hmac.compare_digest``).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac

__all__ = ["expected_signature", "is_signed"]


def expected_signature(secret: str, body: bytes) -> str:
    """The ``X-Shopify-Hmac-Sha256`` value Shopify sends with ``body``."""
    digest = hmac.new(secret.encode(), body, hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def is_signed(secret: str, body: bytes, header: str | None) -> bool:
    """True when ``header`` is the signature of ``body`` with ``secret``."""
    if not header:
        return False
    try:
        given = base64.b64decode(header.strip(), validate=True)
    except (binascii.Error, ValueError):
        return False
    wanted = hmac.new(secret.encode(), body, hashlib.sha256).digest()
    return hmac.compare_digest(given, wanted)
