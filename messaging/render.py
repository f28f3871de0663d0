"""Render a customer message for one channel and locale from ``templates/messages/``.

Layout, one folder per message::

    templates/messages/<message>/sms.<locale>.txt         plain text
    templates/messages/<message>/telegram.<locale>.html   Telegram HTML parse mode (autoescaped)
    templates/messages/<message>/buttons.<locale>.txt     optional Telegram inline buttons,
                                                          one ``callback_data|label`` a line
    templates/messages/_base/                             bases and partials shared by several
                                                          messages

Every SMS starts with ``{{ shop_name }}: `` and every Telegram message with
``<b>{{ shop_name }}</b>``: most templates extend ``_base/sms.txt`` or ``_base/telegram.html`` for
that, and messages with an offer extend ``_base/sms_offer.<locale>.txt`` or
``_base/telegram_offer.<locale>.html``, which end with the offer's choices. The messages sent to
thousands of customers at once (``eta_changed``, ``ready_to_ship``, ``delay_notice``,
``broadcast``) write the header themselves instead: each ``{% extends %}`` or ``{% include %}``
costs a new Jinja2 context and a generator per output piece, a third of such a short render
(``bench/bench_render.py``). A test keeps the headers alike.

A locale falls back from the most to the least specific, then to English: ``es-MX`` -> ``es``
-> ``en``. Every word a person reads lives in those templates; Python only supplies values.

Context contract
----------------
Every message gets:

- ``shop_name`` (str), ``support_contact`` (str: a phone number, an address or a URL);
- ``locale`` (str): set by :func:`render_message` from its ``locale`` argument;
- ``customer``: ``.name`` (str, may be empty) and, optionally, ``.timezone`` (IANA name; times
  are shown in it, UTC when absent).

Optionally, ``order_url`` (str or None): the order page link (``messaging.notifier``); the
bases and the messages about an order end with it when it is given.

Per message, in addition:

- ``backorder_notice``, ``offer_reminder``: ``order``, ``line``, ``eta``, ``offer``;
- ``eta_changed``: ``order``, ``line``, ``eta``, ``old_eta``;
- ``delay_notice``: ``order``, ``line``, ``eta`` (never a passed date; ``None``: the shop cannot
  tell), and from the notifier ``offer`` and ``notice`` (``first``, ``first_late``,
  ``first_unknown`` or ``renewed``: ``store.delay_terms``); an agent's broadcast has neither;
- ``offer_expired``, ``wait_confirmed``, ``switch_confirmed``: ``order``, ``line``, ``eta``,
  ``offer``;
- ``cancel_confirmed``: ``order``, ``line``, ``offer``;
- ``ready_to_ship``: ``order``, ``line``;
- ``shipped``: ``order``, ``line`` (the shipment's first line), ``shipment``;
- ``status_reply``: ``orders``;
- ``broadcast``: ``text``;
- ``help``, ``opted_out``, ``opted_in``, ``unknown_command``: nothing more.

where

- ``order``: ``.number``;
- ``line``: ``.product_name``, ``.sku``, ``.quantity``, ``.backordered_quantity``;
- ``eta``, ``old_eta``: a ``date`` or ``None`` (``None`` renders as the locale's "no date yet");
- ``offer``: ``.id``, ``.discount_percent`` (int), ``.alternative_name`` (str or None),
  ``.alternative_price_cents`` (int or None, minor units of ``.currency``; None when the
  alternative is priced in another currency), ``.price_minor`` (the line's unit price) and
  ``.discount_minor`` (the wait discount on the whole line, ``store.money.line_discount``), in
  minor units of ``.currency`` (ISO 4217), ``.expires_at`` (aware datetime), ``.coupon_code``
  (str or None), ``.cancels_order`` (bool: choosing "cancel" cancels the whole order, as
  nothing else is left in it; else only the late item), ``.refund_cents`` (int or None: what
  cancelling refunds, or refunded, in minor units of ``.currency``; ``store.refunds``), and for
  ``offer_expired`` ``.applied_choice`` (``"wait"``, ``"switch"`` or
  ``"cancel"``);
- ``orders``: a list of objects with ``.number``, ``.lines`` (each ``.product_name``,
  ``.quantity``, ``.status`` in allocated|backordered|switched|cancelled|shipped, ``.eta``)
  and ``.offer`` (the open offer, as above, or None);
- ``shipment``: ``.carrier``, ``.tracking`` (the tracking number), ``.tracking_url`` (http(s)),
  each str or None; ``["items"]`` (subscript: a dict's ``.items`` is its method), a list of
  ``.sku``, ``.name``, ``.quantity``; ``.order_completed`` (bool: nothing of the order is left
  to ship);
- ``text``: the agent's text, placeholders already substituted.

Objects or dicts both work: Jinja2 reads ``x.name`` from either. A missing variable raises
:class:`jinja2.UndefinedError` rather than rendering an empty hole.

Filters: ``date`` (Babel, "long" by default), ``time`` (Babel, "short"), ``money`` (minor units
and a currency code), ``first_name``.
"""

from __future__ import annotations

import html
import re
from collections.abc import Mapping, MutableMapping
from datetime import UTC, date, datetime, tzinfo
from functools import lru_cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from babel import Locale, UnknownLocaleError
from babel.dates import format_date, format_time
from jinja2 import (
    Environment,
    FileSystemLoader,
    StrictUndefined,
    Template,
    TemplateNotFound,
    pass_context,
    select_autoescape,
)
from jinja2.runtime import Context

from messaging.segments import count_segments, fold_accents, is_gsm7, replace_typography
from messaging.types import Button, ChannelKind, Rendered
from store.money import format_money

__all__ = [
    "CALLBACK_DATA_MAX_BYTES",
    "DEFAULT_LOCALE",
    "ENVIRONMENT",
    "MESSAGES_DIR",
    "SMS_SEGMENT_BUDGET",
    "TEMPLATES_DIR",
    "available_messages",
    "locale_chain",
    "render_message",
]

TEMPLATES_DIR = Path(__file__).resolve().parent.parent / "templates"
MESSAGES_DIR = TEMPLATES_DIR / "messages"
DEFAULT_LOCALE = "en"
SMS_SEGMENT_BUDGET = 2
CALLBACK_DATA_MAX_BYTES = 64  # Telegram rejects longer callback_data

_MESSAGE_NAME = re.compile(r"[a-z][a-z0-9_]*")
_BLANK_LINES = re.compile(r"\n{3,}")
_TEMPLATE_FILES = {
    ChannelKind.SMS: "sms.{locale}.txt",
    ChannelKind.TELEGRAM: "telegram.{locale}.html",
}


def locale_chain(locale: str) -> tuple[str, ...]:
    """The locales to try for ``locale``, most specific first, ending with the default.

    >>> locale_chain("es_mx")
    ('es-MX', 'es', 'en')
    """
    parts = [part for part in locale.replace("_", "-").split("-") if part]
    if not parts:
        return (DEFAULT_LOCALE,)
    parts[0] = parts[0].lower()
    parts[1:] = [p.upper() if len(p) == 2 else p for p in parts[1:]]
    chain = ["-".join(parts[:n]) for n in range(len(parts), 0, -1)] + [DEFAULT_LOCALE]
    return tuple(dict.fromkeys(chain))


def available_messages() -> tuple[str, ...]:
    """The names of all messages, one per folder of ``templates/messages`` (partials excluded)."""
    return tuple(
        sorted(p.name for p in MESSAGES_DIR.iterdir() if p.is_dir() and not p.name.startswith("_"))
    )


_TAG = re.compile(r"<[^>]+>")


def as_plain_text(telegram_html: str) -> str:
    """A Telegram HTML message as its reader sees it, tags dropped and entities decoded.

    For transcripts and the simulator's chat view; never for what is sent.
    """
    return html.unescape(_TAG.sub("", telegram_html))


def render_message(
    message: str, channel: ChannelKind | str, locale: str, /, **context: Any
) -> Rendered:
    """Render ``message`` for ``channel`` in ``locale`` (falling back to ``en``).

    The leading parameters are positional-only so that the context may hold ``message``,
    ``name`` or ``channel``. ``locale`` is handed to the templates as ``locale`` (over any
    ``locale`` in the context), so filters format dates and amounts for it.
    Raises ``jinja2.UndefinedError`` for a missing context variable and
    ``jinja2.TemplatesNotFound`` for an unknown message.
    """
    kind, body, buttons = _templates(message, channel, locale)
    context["locale"] = locale
    text = _tidy(body.render(context))
    if kind is ChannelKind.SMS:
        text = _fit_sms(text)
    return Rendered(text, _parse_buttons(buttons.render(context)) if buttons else ())


@lru_cache(maxsize=1024)
def _templates(
    message: str, channel: ChannelKind | str, locale: str
) -> tuple[ChannelKind, Template, Template | None]:
    """The channel, its body template and the optional buttons template, each looked up once.

    ``"sms"`` and ``ChannelKind.SMS`` are equal and hash alike, so they share one cache entry.
    """
    if not _MESSAGE_NAME.fullmatch(message):
        raise ValueError(f"not a message name: {message!r}")
    kind = ChannelKind(channel)
    body = ENVIRONMENT.select_template(_candidates(message, _TEMPLATE_FILES[kind], locale))
    if kind is not ChannelKind.TELEGRAM:
        return kind, body, None
    try:
        buttons = ENVIRONMENT.select_template(_candidates(message, "buttons.{locale}.txt", locale))
    except TemplateNotFound:
        return kind, body, None
    return kind, body, buttons


def _candidates(message: str, pattern: str, locale: str) -> list[str]:
    """Template names for ``message`` along the locale fallback chain."""
    return [
        f"messages/{message}/" + pattern.format(locale=candidate)
        for candidate in locale_chain(locale)
    ]


def _tidy(text: str) -> str:
    """Drop trailing spaces and runs of blank lines that template logic leaves behind."""
    # Per-line rstrip() strips exactly what a multiline r"[^\S\n]+$" would, in a fifth of the
    # time; most renders have no blank-line run, and an `in` test is cheaper than a regex scan.
    text = "\n".join([line.rstrip() for line in text.split("\n")])
    if "\n\n\n" in text:
        text = _BLANK_LINES.sub("\n\n", text)
    return text.strip()


def _fit_sms(text: str) -> str:
    """Keep an SMS in GSM-7 where that costs the reader nothing or saves a segment.

    Typographic look-alikes (Babel's non-breaking spaces, curly quotes) are always replaced: a
    single one would bill the whole message as UCS-2. Accents GSM-7 lacks (María, está) are
    dropped only when that lowers the segment count, so short messages keep them.
    """
    if is_gsm7(text):
        return text
    text = replace_typography(text)
    if is_gsm7(text):
        return text
    folded = fold_accents(text)
    if count_segments(folded).segments < count_segments(text).segments:
        return folded
    return text


def _parse_buttons(text: str) -> tuple[Button, ...]:
    """Parse rendered ``callback_data|label`` lines into buttons, skipping blank lines."""
    return tuple(_parse_button(line) for line in text.splitlines() if line.strip())


def _parse_button(line: str) -> Button:
    """One ``callback_data|label`` line; the label may itself contain ``|``."""
    data, bar, label = (part.strip() for part in line.partition("|"))
    if not bar or not data or not label:
        raise ValueError(f"button line is not 'callback_data|label': {line!r}")
    if len(data.encode()) > CALLBACK_DATA_MAX_BYTES:
        raise ValueError(f"callback data longer than 64 bytes: {data!r}")
    return Button(label=label, data=data)


# Filters. They read the customer's locale (and time zone) from the render context.


@pass_context
def _date_filter(ctx: Context, value: date | None, pattern: str = "long") -> str:
    """A date (or the date of a datetime, in the customer's zone) in the customer's locale.

    ``None`` renders the locale's ``_base/no_date`` template: the words stay out of Python.
    """
    locale = str(ctx["locale"])
    if value is None:
        return _no_date(locale)
    if isinstance(value, datetime):
        value = value.astimezone(_customer_zone(ctx)).date()
    return _format_date(value, pattern, locale)


@pass_context
def _time_filter(ctx: Context, value: datetime, pattern: str = "short") -> str:
    """The time of day of ``value`` in the customer's zone and locale."""
    return _format_time(value, _customer_zone(ctx), pattern, str(ctx["locale"]))


@pass_context
def _money_filter(ctx: Context, minor_units: int, currency: str) -> str:
    """An amount in minor units of ``currency`` (its own ISO 4217 digits: JPY 0, KWD 3),
    formatted for the locale by :func:`store.money.format_money`."""
    return _format_money(minor_units, currency, str(ctx["locale"]))


def _first_name_filter(name: str | None) -> str:
    """The first word of a full name; empty when there is no name."""
    words = (name or "").split()
    return words[0] if words else ""


@lru_cache(maxsize=64)
def _no_date(locale: str) -> str:
    """The rendered ``no_date`` partial for ``locale``."""
    names = [f"messages/_base/no_date.{candidate}.txt" for candidate in locale_chain(locale)]
    return _tidy(ENVIRONMENT.select_template(names).render())


@lru_cache(maxsize=256)
def _babel_locale(locale: str) -> Locale:
    """The first locale along the fallback chain that Babel knows."""
    for candidate in locale_chain(locale):
        try:
            return Locale.parse(candidate, sep="-")
        except (UnknownLocaleError, ValueError):
            continue
    return Locale.parse(DEFAULT_LOCALE)


# Babel formatting costs tens of microseconds; a broadcast formats the same few dates and
# amounts for thousands of customers, so each result is remembered. Aware datetimes in different
# zones compare (and hash) equal, which is why the zone is part of the time's cache key.
@lru_cache(maxsize=4096)
def _format_date(value: date, pattern: str, locale: str) -> str:
    return format_date(value, pattern, locale=_babel_locale(locale))


@lru_cache(maxsize=4096)
def _format_time(value: datetime, zone: tzinfo, pattern: str, locale: str) -> str:
    return format_time(value, pattern, tzinfo=zone, locale=_babel_locale(locale))


def _format_money(minor_units: int, currency: str, locale: str) -> str:
    # One rule for money everywhere (store/money.py, cached there); the locale is resolved
    # along the same fallback chain as dates.
    return format_money(minor_units, currency, _babel_locale_name(locale))


@lru_cache(maxsize=256)
def _babel_locale_name(locale: str) -> str:
    # str(Locale) rebuilds the identifier each time: a tenth of a delay notice's render.
    return str(_babel_locale(locale))


def _customer_zone(ctx: Context) -> tzinfo:
    """The customer's time zone, UTC when the customer has none."""
    customer = ctx.get("customer")
    if isinstance(customer, Mapping):
        name = customer.get("timezone")
    else:
        name = getattr(customer, "timezone", None)
    return _zone(name) if name else UTC


@lru_cache(maxsize=256)
def _zone(name: str) -> tzinfo:
    return ZoneInfo(name)


class _MessageEnvironment(Environment):
    """Jinja2's environment with two per-render costs taken out; templates behave the same.

    A fan-out renders the same few templates for 100,000 customers, so what Jinja2 does on every
    render, include and context matters more than what it does once per template.
    """

    def make_globals(self, d: MutableMapping[str, Any] | None) -> MutableMapping[str, Any]:
        # Jinja2 returns a ChainMap over the environment's globals, and copies it key by key
        # (twice: dict() and set()) into every new context; a ChainMap iterates in Python, which
        # cost about a quarter of a short render. Globals are all set before the first template
        # loads, so a plain dict snapshot holds the same values.
        return {**self.globals, **(d or {})}

    def getattr(self, obj: Any, attribute: str) -> Any:
        # ``line.product_name`` tries getattr() first and only then the item; on the notifier's
        # dicts every such lookup raised and caught an AttributeError. A dict's key now wins over
        # a dict method of the same name (no context key is named like one).
        if type(obj) is dict and attribute in obj:
            return obj[attribute]
        return super().getattr(obj, attribute)


def _build_environment() -> Environment:
    """The one Jinja2 environment for customer messages."""
    env = _MessageEnvironment(
        loader=FileSystemLoader(TEMPLATES_DIR),
        undefined=StrictUndefined,
        # Telegram bodies are HTML (escape the data); SMS and button files are plain text.
        autoescape=select_autoescape(
            enabled_extensions=("html",), default_for_string=False, default=False
        ),
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=False,
        # Templates ship with the code: skip a stat() of every file on every render.
        auto_reload=False,
        cache_size=-1,
    )
    env.filters.update(
        date=_date_filter,
        time=_time_filter,
        money=_money_filter,
        first_name=_first_name_filter,
    )
    return env


ENVIRONMENT = _build_environment()
