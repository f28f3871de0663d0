"""The composer's form fields, read into a ``BroadcastRequest`` or field-level errors.

One reader for the three steps (compose, preview, confirm): the preview page carries the same
fields as hidden inputs, so what is confirmed is exactly what was previewed. The confirm form
also carries an idempotency key made when the preview was shown; the broadcast service turns
a second submit of that form (a double click, a reload) into the first broadcast.
"""

from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import dataclass, field

from starlette.datastructures import FormData

from messaging.broadcast_content import PLACEHOLDERS, usable_templates
from messaging.broadcasts import BroadcastRequest
from store.audience import AudienceFilter
from store.errors import InvalidInput
from store.models import Channel, LineStatus

FIELDS = (
    "sku",
    "supplier",
    "status",
    "waiting_days_min",
    "eta_before",
    "eta_after",
    "locale",
    "channel",
    "template",
    "text",
)
_KEY_CHARS = 22


@dataclass(slots=True)
class Composed:
    """The form as typed (to show it again), and what it asks for when it is valid."""

    values: dict[str, str]
    errors: dict[str, str] = field(default_factory=dict)
    request: BroadcastRequest | None = None


def blank(**prefill: str) -> dict[str, str]:
    """An empty composer, optionally aimed at one SKU."""
    values = dict.fromkeys(FIELDS, "")
    values["status"] = LineStatus.BACKORDERED.value
    values.update({k: v for k, v in prefill.items() if k in values})
    return values


def choices() -> dict[str, object]:
    """The composer's fixed options, for the template."""
    return {
        "templates": usable_templates(),
        "statuses": [s.value for s in LineStatus],
        "channels": [c.value for c in Channel],
        "placeholders": PLACEHOLDERS,
    }


def new_key() -> str:
    """The confirm form's idempotency key (random: each preview may become one broadcast)."""
    return secrets.token_urlsafe(16)[:_KEY_CHARS]


def read(form: FormData, created_by: str, key: str | None = None) -> Composed:
    """Parse the fields; ``key`` (the confirm step's) becomes the broadcast's idempotency key."""
    values = blank()
    for name in FIELDS:
        raw = form.get(name)
        values[name] = raw.strip() if isinstance(raw, str) and name != "text" else ""
    raw_text = form.get("text")
    values["text"] = raw_text.replace("\r\n", "\n").strip() if isinstance(raw_text, str) else ""
    composed = Composed(values)
    errors = composed.errors
    filters = _filters(values, errors)
    template = values["template"] or None
    text = None if template else values["text"] or None
    if template is None and text is None:
        errors["text"] = "write a text, or pick a template"
    if errors or filters is None:
        return composed
    composed.request = BroadcastRequest(
        filters=filters,
        template=template,
        text=text,
        idempotency_key=f"dashboard:{created_by}:{key}" if key else None,
        created_by=created_by,
    )
    return composed


def _filters(values: dict[str, str], errors: dict[str, str]) -> AudienceFilter | None:
    def date(name: str) -> dt.date | None:
        if not values[name]:
            return None
        try:
            return dt.date.fromisoformat(values[name])
        except ValueError:
            errors[name] = "a date, YYYY-MM-DD"
            return None

    days: int | None = None
    if values["waiting_days_min"]:
        if values["waiting_days_min"].isdigit() and len(values["waiting_days_min"]) < 6:
            days = int(values["waiting_days_min"])
        else:
            errors["waiting_days_min"] = "a whole number of days"
    status = LineStatus.BACKORDERED
    try:
        status = LineStatus(values["status"] or LineStatus.BACKORDERED.value)
    except ValueError:
        errors["status"] = "not an order line status"
    channel = None
    if values["channel"]:
        try:
            channel = Channel(values["channel"])
        except ValueError:
            errors["channel"] = "sms or telegram"
    before, after = date("eta_before"), date("eta_after")
    for name in ("sku", "supplier", "locale"):
        if len(values[name]) > (16 if name == "locale" else 200):
            errors[name] = "too long"
    if errors:
        return None
    try:
        return AudienceFilter(
            sku=values["sku"] or None,
            supplier=values["supplier"] or None,
            status=status,
            waiting_days_min=days,
            eta_before=before,
            eta_after=after,
            locale=values["locale"] or None,
            channel=channel,
        )
    except InvalidInput as exc:
        errors["eta_after"] = str(exc)
        return None
