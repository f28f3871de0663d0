"""The composer's form fields, read into a ``BroadcastRequest`` or field-level errors.

One reader for the three steps (compose, preview, confirm): the preview page carries the same
fields as hidden inputs, so what is confirmed is exactly what was previewed. The confirm form
also carries an idempotency key made when the preview was shown; the broadcast service turns
a second submit of that form (a double click, a reload) into the first broadcast.

Each supported language besides the default has an optional text of its own
(``translations.es``: the name is the service's error field, so its errors land next to it).

``send_at`` is typed as a local time (``<input type="datetime-local">``) in the shop's zone,
``DEFAULT_TIMEZONE``; empty sends at once. The service refuses a time in the past.
"""

from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

from babel import Locale
from starlette.datastructures import FormData

from messaging.broadcast_content import (
    PLACEHOLDERS,
    ContentError,
    compile_content,
    usable_templates,
)
from messaging.broadcasts import BroadcastRequest
from messaging.render import DEFAULT_LOCALE
from store.audience import AudienceFilter
from store.customers import SUPPORTED_LOCALES
from store.errors import InvalidInput
from store.models import CUSTOMER_CHANNELS, Channel, LineStatus

# Form field -> locale, for the optional texts in other languages.
TRANSLATIONS = {
    f"translations.{locale}": locale for locale in SUPPORTED_LOCALES if locale != DEFAULT_LOCALE
}
# Texts keep their line breaks and inner spaces.
_TEXTS = ("text", *TRANSLATIONS)
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
    *TRANSLATIONS,
    "send_at",
)
# What the agent sees each field called: errors name these, never the form's field names.
LABELS = {
    "sku": "SKU",
    "supplier": "Supplier",
    "status": "Order line status",
    "waiting_days_min": "Waiting at least (days)",
    "eta_before": "ETA before",
    "eta_after": "ETA after",
    "locale": "Language",
    "channel": "Channel",
    "template": "Template",
    "text": "Text",
    **{
        name: f"{Locale('en').languages.get(code, code)} text"
        for name, code in TRANSLATIONS.items()
    },
    "translations": "Text in another language",
    "send_at": "Send at",
}
# A date input shows the date in the browser's own format (mm/dd/yyyy in the US, dd/mm/yyyy
# elsewhere) and posts it as YYYY-MM-DD, or empty when only part of it was filled in: the error
# asks for a whole date, in no particular format, so it never contradicts what the picker shows.
DATE_ERROR = "pick a whole date: day, month and year"
TIME_ERROR = "pick a whole date and time: day, month, year, hours and minutes"
_KEY_CHARS = 22
# What a datetime-local input posts (seconds only with a ``step`` under a minute), and what
# someone types where the browser shows a plain text box instead.
_LOCAL_TIME_FORMATS = ("%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M")


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
        "channels": [c.value for c in CUSTOMER_CHANNELS],
        "placeholders": PLACEHOLDERS,
        # The dashboard is in English: "Spanish", not "español".
        "translations": {
            name: Locale("en").languages.get(locale, locale)
            for name, locale in TRANSLATIONS.items()
        },
    }


def new_key() -> str:
    """The confirm form's idempotency key (random: each preview may become one broadcast)."""
    return secrets.token_urlsafe(16)[:_KEY_CHARS]


def read(
    form: FormData,
    created_by: str,
    key: str | None = None,
    *,
    timezone: ZoneInfo,
    now: dt.datetime | None = None,
) -> Composed:
    """Parse the fields; ``key`` (the confirm step's) becomes the broadcast's idempotency key.

    ``send_at`` is read in ``timezone``; the same text always gives the same instant, so the
    confirm step asks for exactly the broadcast that was previewed (its idempotency digest).
    Every problem is found in one pass (the texts too, and, given ``now``, a time already
    past), so the agent fixes them all at once rather than one per submit.
    """
    values = blank()
    for name in FIELDS:
        raw = form.get(name)
        if not isinstance(raw, str):
            values[name] = ""
        elif name in _TEXTS:
            values[name] = raw.replace("\r\n", "\n").strip()
        else:
            values[name] = raw.strip()
    composed = Composed(values)
    errors = composed.errors
    filters = _filters(values, errors)
    send_at = _send_at(values["send_at"], timezone, errors)
    template = values["template"] or None
    text = None if template else values["text"] or None
    translations = {
        locale: values[name] for name, locale in TRANSLATIONS.items() if text and values[name]
    }
    if template is None and text is None:
        errors["text"] = "write a text, or pick a template"
    else:
        _check_content(template, text, translations, errors)
    if send_at is not None and now is not None and send_at < now - dt.timedelta(minutes=1):
        errors["send_at"] = "this time has passed: pick a later one, or leave it empty to send now"
    if errors or filters is None:
        return composed
    composed.request = BroadcastRequest(
        filters=filters,
        template=template,
        text=text,
        translations=translations,
        send_at=send_at,
        idempotency_key=f"dashboard:{created_by}:{key}" if key else None,
        created_by=created_by,
    )
    return composed


def _check_content(
    template: str | None, text: str | None, translations: dict[str, str], errors: dict[str, str]
) -> None:
    """The broadcast service's own content check, run here so its error joins the others."""
    try:
        compile_content(template, text, translations)
    except ContentError as exc:
        errors.setdefault(exc.field, str(exc))


def summary(errors: dict[str, str]) -> list[tuple[str, str, str]]:
    """``(field, label, message)`` for every error, in the form's order, for the list at the
    top of the form (each links to its field)."""
    order = {name: i for i, name in enumerate(FIELDS)}
    return [
        (name, LABELS.get(name, "Form"), humane(message))
        for name, message in sorted(errors.items(), key=lambda item: order.get(item[0], -1))
    ]


def humane(message: str) -> str:
    """A service message with any form field name it mentions replaced by the field's label."""
    for name, label in sorted(LABELS.items(), key=lambda item: -len(item[0])):
        if "_" in name or "." in name:  # "text" and "sku" are words too: leave those alone
            message = message.replace(name, label)
    return message


def _send_at(raw: str, zone: ZoneInfo, errors: dict[str, str]) -> dt.datetime | None:
    """The local time typed, in ``zone``, as an aware UTC time; None (send now) when empty."""
    if not raw:
        return None
    for pattern in _LOCAL_TIME_FORMATS:
        try:
            local = dt.datetime.strptime(raw, pattern)
            break
        except ValueError:
            continue
    else:
        errors["send_at"] = TIME_ERROR
        return None
    # fold=0 (what ``replace`` leaves): a time that happens twice when the clocks go back is
    # its first occurrence, still on summer time; the agent sees the instant on the preview.
    try:
        instant = local.replace(tzinfo=zone).astimezone(dt.UTC)
        round_trip = instant.astimezone(zone).replace(tzinfo=None)
    except OverflowError:  # 9999-12-31 west of UTC, 0001-01-01 east of it: no such instant
        errors["send_at"] = TIME_ERROR
        return None
    if round_trip != local:
        # zoneinfo gives a time skipped when the clocks go forward an instant anyway: refuse it
        # rather than send an hour away from what was typed.
        errors["send_at"] = (
            f"{local:%H:%M} does not exist on {local:%Y-%m-%d} in {zone.key} (the clocks go "
            "forward); pick another time"
        )
        return None
    return instant


def _filters(values: dict[str, str], errors: dict[str, str]) -> AudienceFilter | None:
    def date(name: str) -> dt.date | None:
        if not values[name]:
            return None
        try:
            return dt.date.fromisoformat(values[name])
        except ValueError:
            errors[name] = DATE_ERROR
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
        errors["eta_after"] = humane(str(exc))
        return None
