"""What a broadcast says: a message from the template library, or an agent's own text.

An agent's text may use placeholders in Jinja2 syntax, filled per customer::

    Hi {{ first_name }}, {{ product }} (order {{ order_number }}) is now due {{ eta }}.

The names are fixed (``PLACEHOLDERS``); anything else is refused with the list of valid ones
before a single row is queued. The text is compiled in a ``SandboxedEnvironment`` with
``StrictUndefined``: it is typed by a person into a web form or a Telegram chat, so it must not
reach Python attributes or render a silent blank, nor cost more time, memory or output than a
message needs (``messaging.text_sandbox`` bounds all three). It is rendered as plain text and
then placed into the ``broadcast`` message, which adds the shop's header and, on SMS, the
opt-out line, and escapes it for Telegram HTML.

An agent's text may come with translations (locale -> text, for ``SUPPORTED_LOCALES``), each
checked like the text; a customer gets the one for their language (``es`` for ``es-MX``), and
everyone else the text.

A library template gets the context the notifier gives event messages (``customer``,
``order``, ``line``, ``eta``); templates needing more (an ``offer``) are refused by name.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from functools import lru_cache
from typing import Any

from jinja2 import Template, TemplateError, TemplateSyntaxError, meta

from messaging.notifier import ShopVoice
from messaging.render import ENVIRONMENT, available_messages, render_message
from messaging.text_sandbox import BoundedSandbox
from messaging.types import Rendered
from store.audience import AudienceRow
from store.customers import SUPPORTED_LOCALES
from store.errors import InvalidInput
from store.models import CUSTOMER_CHANNELS, Channel, ReachState

MAX_TEXT_LENGTH = 1_000
# What the text may fill in to, per customer: ten SMS segments of plain text. Loops, sizes and
# render time are bounded too (``messaging.text_sandbox``), so no text can exhaust the server.
MAX_RENDERED_LENGTH = 1_600
TEXT_MESSAGE = "broadcast"
# Library messages that make sense sent to an audience; the others answer something a customer
# just did (help, opted_out, confirmations) and would confuse anyone who did not.
BROADCAST_TEMPLATES = ("delay_notice", "eta_changed", "ready_to_ship")

PLACEHOLDERS: dict[str, str] = {
    "name": "the customer's full name",
    "first_name": "the customer's first name",
    "order_number": "the order's number",
    "product": "the waiting product's name",
    "sku": "the waiting product's SKU",
    "eta": "the supplier's expected date, in the customer's language",
    "coupon": "the customer's discount code (customers without one are skipped)",
    "shop_name": "the shop's name",
}

_SANDBOX = BoundedSandbox(max_output=MAX_RENDERED_LENGTH)
SAMPLE_ROW = AudienceRow(
    customer_id=0,
    name="Ada Lovelace",
    locale="en",
    timezone="UTC",
    preferred_channel=Channel.SMS,
    phone="+14155550100",
    sms_state=ReachState.ACTIVE,
    telegram_chat_id=None,
    telegram_state=ReachState.ACTIVE,
    order_number="1001",
    product_name="Enamelled Dutch Oven",
    sku="SKU-1",
    quantity=1,
    backordered_quantity=1,
    eta=dt.date(2026, 12, 1),
    coupon="WAIT-SAMPLE",
)


class ContentError(InvalidInput):
    """The broadcast cannot be sent as asked (content, send time); ``field`` names the input
    at fault, so interfaces can show the error next to it."""

    field: str

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message, field=field)


@dataclass(frozen=True, slots=True)
class Content:
    """Validated content, ready to render for any audience row."""

    template: str | None
    text: str | None
    _compiled: Template | None
    needs_coupon: bool
    # The agent's text per language, each compiled as a text-only Content of its own.
    translations: Mapping[str, str] = field(default_factory=dict)
    _translated: Mapping[str, Content] = field(default_factory=dict)

    @property
    def message(self) -> str:
        """The outbox's ``message`` column: the template's name."""
        return self.template or TEXT_MESSAGE

    def for_locale(self, locale: str) -> Content:
        """The content a customer in ``locale`` gets: their language's translation, or this."""
        return self._translated.get(_language(locale), self)

    def render(
        self, row: AudienceRow, channel: Channel, voice: ShopVoice, locale: str | None = None
    ) -> Rendered:
        """The message for one customer; raises ``jinja2.TemplateError`` if it cannot render."""
        locale = locale or row.locale
        base = {
            "shop_name": voice.shop_name,
            "support_contact": voice.support_contact,
            "customer": {"name": row.name, "timezone": row.timezone},
        }
        if self._compiled is None:
            assert self.template is not None
            return render_message(
                self.template,
                channel,
                locale,
                **base,
                order={"number": row.order_number},
                line={
                    "product_name": row.product_name,
                    "sku": row.sku,
                    "quantity": row.quantity,
                    "backordered_quantity": row.backordered_quantity,
                },
                eta=row.eta,
                old_eta=None,
            )
        compiled = self.for_locale(locale)._compiled
        assert compiled is not None
        words = row.name.split()
        values = {
            "name": row.name,
            "first_name": words[0] if words else "",
            "order_number": row.order_number,
            "product": row.product_name,
            "sku": row.sku,
            "eta": format_eta(row.eta, locale),
            "coupon": row.coupon or "",
            "shop_name": voice.shop_name,
        }
        text = _SANDBOX.render(compiled, values).strip()
        return render_message(TEXT_MESSAGE, channel, locale, **base, text=text)


def compile_content(
    template: str | None, text: str | None, translations: Mapping[str, str] | None = None
) -> Content:
    """Check the content before anything is queued; raise ``ContentError`` saying what is wrong.

    A translation's errors name the field ``translations.<locale>``.
    """
    if translations and template is not None:
        raise ContentError(
            "translations", "translations are for your own text; a template has every language"
        )
    if translations and text is None:
        raise ContentError(
            "text", "give the text too: customers whose language has no translation get it"
        )
    if (template is None) == (text is None):
        raise ContentError("text", "give either a template name or a text, not both or neither")
    if text is None:
        assert template is not None
        return _check_template(template)
    content = _compile_text(text, "text")
    if not translations:
        return content
    translated: dict[str, Content] = {}
    for locale, translation in sorted(translations.items()):
        if locale not in SUPPORTED_LOCALES:
            raise ContentError(
                "translations",
                f"a translation is for one of the languages {', '.join(SUPPORTED_LOCALES)} "
                f"(es also reaches es-MX), not {locale!r}",
            )
        name = f"translations.{locale}"
        try:
            translated[locale] = _compile_text(translation, name)
        except ContentError as exc:
            # Said in the message too: the CLI shows the message without the field.
            raise ContentError(name, f"the {locale} translation: {exc}") from None
    return replace(
        content,
        translations={locale: str(c.text) for locale, c in translated.items()},
        _translated=translated,
    )


def _compile_text(text: str, field: str) -> Content:
    stripped = text.strip()
    if not stripped:
        raise ContentError(field, "the text is empty")
    if len(stripped) > MAX_TEXT_LENGTH:
        raise ContentError(field, f"the text is longer than {MAX_TEXT_LENGTH} characters")
    try:
        parsed = _SANDBOX.parse(stripped)
        # Compiled with its loops and concatenations bounded; an unknown filter fails here.
        compiled = _SANDBOX.compile_text(stripped)
    except TemplateSyntaxError as exc:
        raise ContentError(
            field, f"placeholder syntax error on line {exc.lineno}: {exc.message}"
        ) from None
    unknown = sorted(meta.find_undeclared_variables(parsed) - set(PLACEHOLDERS))
    if unknown:
        names = ", ".join("{{ " + name + " }}" for name in unknown)
        valid = ", ".join("{{ " + name + " }}" for name in PLACEHOLDERS)
        raise ContentError(field, f"unknown placeholder {names}; use {valid}")
    content = Content(None, stripped, compiled, needs_coupon="coupon" in _names(parsed))
    _try_render(content, field)
    return content


def _names(parsed: Any) -> set[str]:
    return set(meta.find_undeclared_variables(parsed))


def _language(locale: str) -> str:
    """``es`` for ``es-MX`` or ``es_ES``: translations are per language, customers' locales may
    name a region."""
    return locale.replace("_", "-").split("-")[0].lower()


def _check_template(template: str) -> Content:
    usable = usable_templates()
    if template not in usable:
        if template in available_messages():
            reason = f"template {template!r} is not one a broadcast can send"
        else:
            reason = f"there is no template {template!r}"
        raise ContentError("template", f"{reason}; usable templates: {', '.join(usable)}")
    return Content(template, None, None, needs_coupon=False)


@lru_cache(maxsize=1)
def usable_templates() -> tuple[str, ...]:
    """Library messages a broadcast can fill (rendered once with a sample customer)."""
    usable = []
    for name in BROADCAST_TEMPLATES:
        content = Content(name, None, None, needs_coupon=False)
        try:
            _try_render(content, "template")
        except ContentError:
            continue
        usable.append(name)
    return tuple(usable)


def _try_render(content: Content, field: str) -> None:
    voice = ShopVoice("Shop", "support@example.com")
    for channel in CUSTOMER_CHANNELS:
        for locale in SUPPORTED_LOCALES:
            try:
                content.render(SAMPLE_ROW, channel, voice, locale)
            except (TemplateError, ValueError, TypeError, AttributeError) as exc:
                raise ContentError(field, f"cannot be rendered: {exc}") from None


@lru_cache(maxsize=4096)
def format_eta(eta: dt.date | None, locale: str) -> str:
    """The date as the templates' ``date`` filter writes it (or the locale's "no date yet")."""
    return _ETA.render(eta=eta, locale=locale, customer={"name": ""})


_ETA = ENVIRONMENT.from_string("{{ eta|date }}")
