#!/usr/bin/env python3
"""Send events to backorder-bot's signed order feed (``POST /webhooks/orders``).

Standard library only: copy this file into any shop's code. See docs/order-feed.md.

    ORDER_FEED_SECRET=... python3 order_feed_client.py https://bot.example.com events.json

``events.json`` holds a list of events (or ``{"events": [...]}``). The answer's results are
printed as JSON; the exit status is 0 when every event was applied or already had been, 1 when
one was refused or stale, 2 when the request itself was refused (401, 400, 413, 503).
A network error or a 5xx is retried (with the same event ids, so nothing is applied twice).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import sys
import time
import urllib.error
import urllib.request
from typing import Any

PATH = "/webhooks/orders"
RETRIES = 5


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The X-Feed-Signature header: HMAC-SHA256 over b"<timestamp>." + body, in hex."""
    message = str(timestamp).encode() + b"." + body
    return "sha256=" + hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def send(base_url: str, secret: str, events: list[dict[str, Any]]) -> tuple[int, Any]:
    """POST one batch; (HTTP status, parsed answer). Signed afresh on each try, so a retry
    after a wait is still inside the replay window."""
    if not base_url.startswith(("https://", "http://")):
        raise SystemExit(f"{base_url!r} must start with https:// (or http:// for a local test)")
    body = json.dumps({"events": events}).encode()
    for attempt in range(RETRIES):
        timestamp = int(time.time())
        request = urllib.request.Request(  # noqa: S310 (the scheme is checked above)
            base_url.rstrip("/") + PATH,
            data=body,
            method="POST",
            headers={
                "Content-Type": "application/json",
                "X-Feed-Timestamp": str(timestamp),
                "X-Feed-Signature": sign(secret, timestamp, body),
            },
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as answer:  # noqa: S310
                return answer.status, json.loads(answer.read())
        except urllib.error.HTTPError as exc:
            if exc.code < 500:
                return exc.code, json.loads(exc.read() or b"{}")
        except urllib.error.URLError:
            pass
        time.sleep(min(2**attempt, 30))
    raise SystemExit(f"gave up after {RETRIES} tries")


def main(argv: list[str]) -> int:
    if len(argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    secret = os.environ.get("ORDER_FEED_SECRET", "")
    if not secret:
        print("set ORDER_FEED_SECRET", file=sys.stderr)
        return 2
    with open(argv[2], encoding="utf-8") as handle:
        data = json.load(handle)
    events = data["events"] if isinstance(data, dict) else data
    status, answer = send(argv[1], secret, events)
    print(json.dumps(answer, indent=2))
    if status != 200:
        return 2
    ok = {"applied", "duplicate"}
    return 0 if all(r["outcome"] in ok for r in answer["results"]) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
