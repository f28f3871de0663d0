"""What an agent asks a broadcast for, and the checks made on it before anything is recorded.

A request is found again by its ``idempotency_key`` (the client's) or, without one, by a hash
of who + audience + content + send time (:func:`content_hash`) within ``DUPLICATE_WINDOW``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field

from messaging.broadcast_content import Content, ContentError
from store.audience import AudienceFilter

DUPLICATE_WINDOW = dt.timedelta(minutes=10)


@dataclass(frozen=True, slots=True)
class BroadcastRequest:
    """What an agent asks for. Exactly one of ``template`` and ``text``.

    ``translations`` (locale -> text) go with ``text``, which is for every other locale.
    """

    filters: AudienceFilter
    template: str | None = None
    text: str | None = None
    translations: Mapping[str, str] = field(default_factory=dict)
    send_at: dt.datetime | None = None
    idempotency_key: str | None = None
    created_by: str = "api"


def check_send_at(send_at: dt.datetime | None, now: dt.datetime) -> dt.datetime | None:
    """An aware time in the future, or None for "now" (a time a minute past counts as now)."""
    if send_at is None:
        return None
    if send_at.tzinfo is None:
        raise ContentError(
            "send_at", "send_at needs a time zone offset, e.g. 2026-12-01T09:00:00+01:00"
        )
    if send_at < now - dt.timedelta(minutes=1):
        raise ContentError("send_at", "send_at is in the past")
    return send_at.astimezone(dt.UTC) if send_at > now else None


def content_hash(request: BroadcastRequest, content: Content, send_at: dt.datetime | None) -> str:
    """The digest that makes a double submit without a client key the same broadcast."""
    payload = {
        "by": request.created_by,
        "filters": request.filters.to_json(),
        "template": content.template,
        "text": content.text,
        "send_at": send_at.isoformat() if send_at else None,
    }
    if content.translations:
        # Only when there are some: digests stored before translations existed still match.
        payload["translations"] = dict(content.translations)
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


def auto_key(digest: str, now: dt.datetime) -> str:
    """The idempotency key of a request without one: its digest within this time window."""
    window = int(now.timestamp() // DUPLICATE_WINDOW.total_seconds())
    return f"auto:{digest[:48]}:{window}"
