"""The order feed's signature: HMAC-SHA256 over ``<timestamp>.<raw body>`` with a shared secret.

The sender puts the Unix time it signed at in ``X-Feed-Timestamp`` and
``sha256=<hex digest>`` in ``X-Feed-Signature``. Signing the timestamp with the body is what
makes the replay window hold: a captured request re-sent later carries the old timestamp, and a
new timestamp needs the secret. The raw bytes are signed, never a re-serialised JSON. The
comparison is constant-time (``hmac.compare_digest``).
"""

from __future__ import annotations

import hashlib
import hmac

__all__ = ["PREFIX", "check", "signature"]

PREFIX = "sha256="


def signature(secret: str, timestamp: int | str, body: bytes) -> str:
    """The ``X-Feed-Signature`` value for ``body`` sent at ``timestamp``."""
    message = str(timestamp).encode() + b"." + body
    return PREFIX + hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def check(
    secret: str,
    body: bytes,
    timestamp: str | None,
    given: str | None,
    *,
    now: float,
    window_s: int,
) -> str | None:
    """None when the request is signed with ``secret`` within ``window_s`` of ``now``; else
    why not, in words for the sender (never the expected signature)."""
    if not timestamp or not given:
        return "missing X-Feed-Timestamp or X-Feed-Signature"
    if not timestamp.isdigit() or len(timestamp) > 12:
        return "X-Feed-Timestamp is not a Unix time in seconds"
    # The signature first: until it holds, the timestamp is anyone's.
    expected = signature(secret, timestamp, body)
    if not hmac.compare_digest(given.strip().encode(), expected.encode()):
        return "invalid signature"
    if abs(now - int(timestamp)) > window_s:
        return f"X-Feed-Timestamp is more than {window_s} s away from our clock"
    return None
