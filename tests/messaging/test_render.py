"""Rendering customer messages: templates, locales, filters, escaping and the SMS budget."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from jinja2 import TemplatesNotFound, UndefinedError

from messaging import render
from messaging.render import (
    CALLBACK_DATA_MAX_BYTES,
    MESSAGES_DIR,
    SMS_SEGMENT_BUDGET,
    available_messages,
    locale_chain,
    render_message,
)
from messaging.segments import count_segments, is_gsm7
from messaging.types import Button, ChannelKind, Rendered
from store.money import format_money
from store.offers import Refusal

LOCALES = ("en", "es")
MESSAGES = available_messages()
SMS = ChannelKind.SMS
TELEGRAM = ChannelKind.TELEGRAM

# Long, realistic values: the SMS budget must hold for them, not only for "Shop" and "Tent".
LONG = {
    "en": {
        "shop_name": "Casa Verde Outdoor & Garden Supply Co.",
        "customer": "Mary-Elizabeth Worthington-Smythe",
        "product": "Ultralight 4-Season Expedition Tent, Forest Green, 3-Person",
        "alternative": "TrailMaster 3-Person Backpacking Tent with Footprint, Olive",
        "currency": "USD",
        "timezone": "America/Los_Angeles",
    },
    "es": {
        "shop_name": "Casa Verde Jardín y Aire Libre S.A. de C.V.",
        "customer": "María José Hernández Ríos",
        "product": "Tienda de campaña ultraligera 4 estaciones, verde, 3 personas",
        "alternative": "Tienda TrailMaster para 3 personas con suelo extra, oliva mate",
        "currency": "EUR",
        "timezone": "Europe/Madrid",
    },
}
SUPPORT = "+1 415 555 0134 or help@casaverde-outdoor.example.com"
ORDER_NUMBER = "BO-2026-004217"
FAR_DATE = date(2026, 9, 30)  # a Wednesday: "miércoles" in Spanish
OLD_DATE = date(2026, 7, 14)
OFFER_ID = "9b2f6c1e-4a7d-4f3b-8e21-5c0d9a6b7e34"
BROADCAST_TEXT = (
    "Our warehouse is closed on Monday for the holiday, so orders placed this weekend ship "
    "on Tuesday. Thank you for your patience while we catch up!"
)


DELAY_NOTICE_KINDS = ("first", "first_late", "first_unknown", "renewed")


def long_context(message: str, locale: str, **overrides: Any) -> dict[str, Any]:
    """A context for ``message`` filled with long, realistic values for ``locale``."""
    values = LONG.get(locale.split("-")[0], LONG["en"])
    offer = SimpleNamespace(
        id=OFFER_ID,
        discount_percent=15,
        alternative_name=values["alternative"],
        alternative_price_cents=123456,
        discount_minor=37037,  # 15% of two at 1,234.56
        currency=values["currency"],
        expires_at=datetime(2026, 6, 3, 23, 59, tzinfo=UTC),
        coupon_code="WAIT15-8F3K2Q7Z",
        applied_choice="wait",
        cancels_order=False,
        refund_cents=12345678,
    )
    line = SimpleNamespace(
        product_name=values["product"], sku="TENT-UL4S-FG-3P", quantity=2, backordered_quantity=2
    )
    context: dict[str, Any] = {
        "shop_name": values["shop_name"],
        "support_contact": SUPPORT,
        "customer": SimpleNamespace(name=values["customer"], timezone=values["timezone"]),
        "order": SimpleNamespace(number=ORDER_NUMBER),
        "line": line,
        "eta": FAR_DATE,
        "old_eta": OLD_DATE,
        "offer": offer,
        "orders": [status_order(values["product"], values["alternative"], offer)],
        "text": BROADCAST_TEXT,
        # The conversation's answers (bot/conversation/core.py).
        "number": ORDER_NUMBER,
        "refusal": "expired",
        "offers": [
            SimpleNamespace(
                **vars(offer), order_number=f"{ORDER_NUMBER}{n}", product_name=values["product"]
            )
            for n in range(5)
        ],
        "order_number": None,
        "group_chat": False,
        "shipment": shipment(values["product"], values["alternative"]),
    }
    context.update(overrides)
    return context


def status_order(product: str, alternative: str, offer: Any = None) -> SimpleNamespace:
    """An order with three long lines in different states."""
    return SimpleNamespace(
        number=ORDER_NUMBER,
        lines=[
            SimpleNamespace(product_name=product, quantity=2, status="backordered", eta=FAR_DATE),
            SimpleNamespace(product_name=alternative, quantity=1, status="shipped", eta=None),
            SimpleNamespace(product_name=product, quantity=1, status="allocated", eta=None),
        ],
        offer=offer,
    )


def shipment(product: str, alternative: str, **overrides: Any) -> SimpleNamespace:
    """A parcel of two long lines, with a long carrier, tracking number and tracking link."""
    values: dict[str, Any] = {
        "carrier": "UPS Mail Innovations",
        "tracking": "1Z999AA10123456784",
        "tracking_url": "https://www.ups.com/track?loc=en_US&tracknum=1Z999AA10123456784&requester=ST",
        "items": [
            SimpleNamespace(sku="TENT-UL4S-FG-3P", name=product, quantity=2),
            SimpleNamespace(sku="TENT-TM3P-OL", name=alternative, quantity=1),
        ],
        "order_completed": False,
    }
    return SimpleNamespace(**{**values, **overrides})


def variants(message: str, locale: str) -> list[dict[str, Any]]:
    """Every branch of ``message`` worth checking against the budget."""
    base = long_context(message, locale)
    values = LONG.get(locale.split("-")[0], LONG["en"])
    if message in ("offer_expired", "cancel_confirmed"):
        return [
            long_context(
                message,
                locale,
                offer=SimpleNamespace(
                    **{**vars(base["offer"]), "applied_choice": c, "cancels_order": whole}
                ),
            )
            for c in ("wait", "switch", "cancel")
            for whole in (False, True)
        ]
    if message == "offer_refused":
        refusals = [r.value for r in Refusal]
        return [
            long_context(
                message,
                locale,
                refusal=r,
                offer=SimpleNamespace(
                    **{**vars(base["offer"]), "applied_choice": c, "cancels_order": whole}
                ),
            )
            for r in refusals
            for c in ("wait", "switch", "cancel")
            for whole in (False, True)
        ]
    if message == "delay_notice":
        # The broadcast (no notice) and each kind of notice, with and without a date.
        return [base] + [
            long_context(message, locale, notice=kind, eta=eta)
            for kind in DELAY_NOTICE_KINDS
            for eta in (FAR_DATE, None)
        ]
    if message == "offer_which":
        return [base, long_context(message, locale, order_number=ORDER_NUMBER)]
    if message in ("backorder_notice", "offer_reminder"):
        whole = SimpleNamespace(**{**vars(base["offer"]), "cancels_order": True})
        return [base, long_context(message, locale, offer=whole)]
    if message == "not_linked":
        return [base, long_context(message, locale, group_chat=True)]
    if message == "shipped":
        one = [SimpleNamespace(sku="T", name=values["product"], quantity=2)]
        return [
            base,
            long_context(message, locale, shipment=shipment("", "", items=one)),
            long_context(message, locale, shipment=shipment("", "", items=one, carrier=None)),
            long_context(
                message, locale, shipment=shipment(values["product"], "", order_completed=True)
            ),
        ]
    if message == "status_reply":
        several = [status_order(values["product"], values["alternative"]) for _ in range(6)]
        return [base, long_context(message, locale, orders=several)]
    return [base]


def sms(message: str, locale: str = "en", **overrides: Any) -> str:
    """The SMS text of ``message`` with the long context."""
    return render_message(message, SMS, locale, **long_context(message, locale, **overrides)).text


def telegram(message: str, locale: str = "en", **overrides: Any) -> Rendered:
    """The Telegram rendering of ``message`` with the long context."""
    return render_message(message, TELEGRAM, locale, **long_context(message, locale, **overrides))


def no_alternative() -> SimpleNamespace:
    """The long context's offer without an alternative product."""
    offer = long_context("backorder_notice", "en")["offer"]
    return SimpleNamespace(
        **{**vars(offer), "alternative_name": None, "alternative_price_cents": None}
    )


# --- coverage of the template tree -------------------------------------------------------------


def test_every_message_folder_is_listed() -> None:
    assert "backorder_notice" in MESSAGES
    assert "broadcast" in MESSAGES
    assert not any(name.startswith("_") for name in MESSAGES)


@pytest.mark.parametrize("locale", LOCALES)
@pytest.mark.parametrize("message", MESSAGES)
def test_every_message_exists_in_both_channels_and_locales(message: str, locale: str) -> None:
    folder = MESSAGES_DIR / message
    assert (folder / f"sms.{locale}.txt").is_file()
    assert (folder / f"telegram.{locale}.html").is_file()


@pytest.mark.parametrize("message", MESSAGES)
def test_buttons_exist_in_every_locale_or_none(message: str) -> None:
    present = {(MESSAGES_DIR / message / f"buttons.{locale}.txt").is_file() for locale in LOCALES}
    assert len(present) == 1


@pytest.mark.parametrize("locale", LOCALES)
@pytest.mark.parametrize("message", MESSAGES)
def test_every_sms_fits_the_segment_budget(message: str, locale: str) -> None:
    for context in variants(message, locale):
        text = render_message(message, SMS, locale, **context).text
        info = count_segments(text)
        assert info.segments <= SMS_SEGMENT_BUDGET, f"{info}: {text!r}"


@pytest.mark.parametrize("locale", LOCALES)
@pytest.mark.parametrize("message", MESSAGES)
def test_every_telegram_message_renders(message: str, locale: str) -> None:
    for context in variants(message, locale):
        rendered = render_message(message, TELEGRAM, locale, **context)
        assert rendered.text.startswith("<b>")


@pytest.mark.parametrize("channel", [SMS, TELEGRAM])
@pytest.mark.parametrize("locale", LOCALES)
@pytest.mark.parametrize("message", MESSAGES)
def test_every_message_starts_with_the_shop_header(
    message: str, locale: str, channel: ChannelKind
) -> None:
    # The bulk messages write the header themselves rather than extend _base/ (for speed).
    header = {SMS: "Casa Verde: ", TELEGRAM: "<b>Casa Verde</b>\n"}[channel]
    for context in variants(message, locale):
        context["shop_name"] = "Casa Verde"
        assert render_message(message, channel, locale, **context).text.startswith(header)


# --- SMS wording rules -------------------------------------------------------------------------


def sms_sources(locale: str) -> list[Path]:
    """SMS templates of ``locale`` and the plain-text partials they include."""
    return sorted(MESSAGES_DIR.glob(f"*/sms.{locale}.txt")) + sorted(
        MESSAGES_DIR.glob(f"_base/*.{locale}.txt")
    )


@pytest.mark.parametrize("path", sms_sources("en"), ids=lambda p: f"{p.parent.name}/{p.name}")
def test_english_sms_templates_are_gsm7(path: Path) -> None:
    assert is_gsm7(path.read_text(encoding="utf-8"))


@pytest.mark.parametrize("path", sms_sources("es"), ids=lambda p: f"{p.parent.name}/{p.name}")
def test_spanish_sms_templates_are_gsm7(path: Path) -> None:
    # Spanish SMS keep to words whose accents GSM-7 has (é, ñ, ü, ¿, ¡), so only customer
    # data can push a message to UCS-2.
    assert is_gsm7(path.read_text(encoding="utf-8"))


@pytest.mark.parametrize("message", MESSAGES)
def test_english_sms_renders_are_gsm7(message: str) -> None:
    # Babel puts U+202F before "PM" and U+00A0 in amounts; neither may reach an SMS.
    for context in variants(message, "en"):
        assert is_gsm7(render_message(message, SMS, "en", **context).text)


@pytest.mark.parametrize("locale", LOCALES)
@pytest.mark.parametrize("message", MESSAGES)
def test_sms_never_asks_for_bare_cancel(message: str, locale: str) -> None:
    for context in variants(message, locale):
        text = render_message(message, SMS, locale, **context).text
        assert not re.search(r"\bCANCEL\b(?! (ORDER|ITEM))", text)
        assert not re.search(r"\bCANCELAR\b(?! (PEDIDO|PRODUCTO))", text)


@pytest.mark.parametrize(
    ("locale", "choices"),
    [
        ("en", ["1/WAIT", "2/SWITCH", "3/CANCEL ITEM"]),
        ("es", ["1/ESPERAR", "2/CAMBIAR", "3/CANCELAR PRODUCTO"]),
    ],
)
def test_sms_offer_lists_the_three_reply_words(locale: str, choices: list[str]) -> None:
    text = sms("backorder_notice", locale)
    assert all(choice in text for choice in choices)


@pytest.mark.parametrize(
    ("locale", "word"), [("en", "3/CANCEL ORDER"), ("es", "3/CANCELAR PEDIDO")]
)
def test_sms_offer_says_order_only_when_cancelling_cancels_the_order(
    locale: str, word: str
) -> None:
    """Issue 12 item 2: cancelling one late item of a bigger order is not "CANCEL ORDER"."""
    alone = long_context("backorder_notice", locale)["offer"]
    whole = SimpleNamespace(**{**vars(alone), "cancels_order": True})
    assert word in sms("backorder_notice", locale, offer=whole)
    assert word not in sms("backorder_notice", locale)


def test_sms_offer_without_alternative_offers_only_wait_and_cancel() -> None:
    text = sms("backorder_notice", offer=no_alternative())
    assert "1/WAIT" in text
    assert "SWITCH" not in text
    assert "3/CANCEL ITEM" in text


def test_sms_help_mentions_rates_and_stop() -> None:
    text = sms("help")
    assert "Msg & data rates may apply" in text
    assert "STOP" in text


def test_sms_broadcast_wraps_text_with_shop_name_and_stop_hint() -> None:
    text = sms("broadcast", text="Back in stock!")
    assert text == "Casa Verde Outdoor & Garden Supply Co.: Back in stock!\nReply STOP to opt out."


def test_telegram_broadcast_has_no_stop_hint() -> None:
    assert "STOP" not in telegram("broadcast", text="Back in stock!").text


def test_sms_is_not_html_escaped() -> None:
    text = sms("ready_to_ship", shop_name="Tom & Jerry's <Tents>")
    assert text.startswith("Tom & Jerry's <Tents>: ")


def test_sms_keeps_spanish_accents_when_they_cost_nothing() -> None:
    text = sms("broadcast", "es", shop_name="Jardín", text="¡Ya abrimos!")
    assert text == "Jardín: ¡Ya abrimos!\nResponde STOP para darte de baja."


def test_sms_drops_accents_gsm7_lacks_when_that_saves_a_segment() -> None:
    text = sms("backorder_notice", "es")
    assert "campaña ultraligera" in text  # ñ is GSM-7: kept
    assert "Jardin" in text
    assert count_segments(text).encoding == "GSM-7"


def test_sms_replaces_typographic_characters_from_data() -> None:
    text = sms("broadcast", text="We’re closed Monday – sorry…")
    assert "We're closed Monday - sorry..." in text


def test_sms_keeps_emoji_from_an_agent() -> None:
    assert "👍" in sms("broadcast", text="Thanks 👍")


# --- Telegram ----------------------------------------------------------------------------------


def test_telegram_escapes_html_in_product_name() -> None:
    line = SimpleNamespace(
        product_name="<script>Tent & Tarp</script>", sku="T", quantity=1, backordered_quantity=1
    )
    text = telegram("backorder_notice", line=line).text
    assert "&lt;script&gt;Tent &amp; Tarp&lt;/script&gt;" in text
    assert "<script>" not in text


def test_telegram_escapes_html_in_broadcast_text() -> None:
    text = telegram("broadcast", text="<b>50% off</b> & more").text
    assert "&lt;b&gt;50% off&lt;/b&gt; &amp; more" in text


def test_telegram_status_reply_escapes_product_names() -> None:
    order = status_order("Tent <XL>", "Tarp & Poles")
    assert "Tent &lt;XL&gt;" in telegram("status_reply", orders=[order]).text


def test_telegram_offer_has_three_buttons() -> None:
    assert telegram("backorder_notice").buttons == (
        Button("Wait (15% off)", f"offer:{OFFER_ID}:wait"),
        Button(f"Switch to {LONG['en']['alternative']}", f"offer:{OFFER_ID}:switch"),
        Button("Cancel item", f"offer:{OFFER_ID}:cancel"),
    )


def test_telegram_offer_without_alternative_has_no_switch_button() -> None:
    buttons = telegram("backorder_notice", offer=no_alternative()).buttons
    assert [b.data.rsplit(":", 1)[1] for b in buttons] == ["wait", "cancel"]


def test_telegram_buttons_are_in_the_customer_language() -> None:
    labels = [b.label for b in telegram("offer_reminder", "es").buttons]
    assert labels[0] == "Esperar (-15%)"
    assert labels[-1] == "Cancelar producto"


@pytest.mark.parametrize("locale", LOCALES)
@pytest.mark.parametrize("message", MESSAGES)
def test_telegram_callback_data_fits_64_bytes(message: str, locale: str) -> None:
    for context in variants(message, locale):
        for button in render_message(message, TELEGRAM, locale, **context).buttons:
            assert len(button.data.encode()) <= CALLBACK_DATA_MAX_BYTES


def test_telegram_status_reply_with_open_offer_has_buttons() -> None:
    assert len(telegram("status_reply").buttons) == 3


def test_telegram_status_reply_for_several_orders_has_no_buttons() -> None:
    order = status_order("Tent", "Tarp", offer=None)
    assert telegram("status_reply", orders=[order, order]).buttons == ()


def test_sms_has_no_buttons() -> None:
    context = long_context("backorder_notice", "en")
    assert render_message("backorder_notice", SMS, "en", **context).buttons == ()


def test_telegram_greets_by_first_name() -> None:
    assert "Hi Mary-Elizabeth," in telegram("backorder_notice").text


def test_telegram_without_customer_name_has_no_empty_greeting() -> None:
    text = telegram("backorder_notice", customer={"name": ""}).text
    assert "Hi ," not in text
    assert "We're sorry" in text


# --- locales -----------------------------------------------------------------------------------


def test_locale_chain_goes_from_region_to_language_to_english() -> None:
    assert locale_chain("es-MX") == ("es-MX", "es", "en")
    assert locale_chain("es_mx") == ("es-MX", "es", "en")
    assert locale_chain("en-US") == ("en-US", "en")


def test_spanish_falls_back_from_es_mx() -> None:
    assert sms("opted_in", "es-MX") == sms("opted_in", "es")


def test_unknown_locale_falls_back_to_english() -> None:
    assert sms("opted_in", "xx-YY") == sms("opted_in", "en")


def test_regional_locale_formats_dates_for_its_region() -> None:
    context = long_context("eta_changed", "en", old_eta=None)
    us = render_message("eta_changed", TELEGRAM, "en-US", **context).text
    gb = render_message("eta_changed", TELEGRAM, "en-GB", **context).text
    assert "September 30, 2026" in us
    assert "30 September 2026" in gb


# --- filters -----------------------------------------------------------------------------------


def test_date_renders_in_the_customer_locale() -> None:
    assert "30 de septiembre de 2026" in telegram("eta_changed", "es").text


def test_missing_date_renders_no_date_yet_in_english() -> None:
    assert "New date: <b>to be confirmed</b>" in telegram("eta_changed", eta=None).text


def test_missing_date_renders_no_date_yet_in_spanish() -> None:
    assert "(pedido BO-2026-004217): por confirmar," in sms("eta_changed", "es", eta=None)


def test_old_date_is_left_out_when_unknown() -> None:
    assert "was" not in sms("eta_changed", old_eta=None)


def test_money_formats_minor_units_in_the_customer_locale() -> None:
    assert "($1,234.56)" in sms("backorder_notice")
    assert "(1.234,56 €)" in sms("backorder_notice", "es")


def test_money_respects_currencies_without_minor_units() -> None:
    offer = SimpleNamespace(**{**vars(no_alternative()), "alternative_name": "Tarp"})
    offer.alternative_price_cents, offer.currency = 1500, "JPY"
    assert "(¥1,500)" in telegram("backorder_notice", offer=offer).text


def test_offer_deadline_is_shown_in_the_customer_time_zone() -> None:
    # 23:59 UTC on 3 June is 4:59 PM the same day in Los Angeles.
    assert "Reply by Jun 3, 4:59 PM." in sms("backorder_notice")


def test_offer_deadline_is_in_utc_without_a_customer_time_zone() -> None:
    text = sms("backorder_notice", customer={"name": "Ann"})
    assert "Reply by Jun 3, 11:59 PM." in text


def test_first_name_takes_the_first_word() -> None:
    assert "Hola María," in telegram("backorder_notice", "es").text


# --- errors and API shape ----------------------------------------------------------------------


def test_missing_variable_raises() -> None:
    context = long_context("backorder_notice", "en")
    del context["offer"]
    with pytest.raises(UndefinedError):
        render_message("backorder_notice", SMS, "en", **context)


def test_missing_attribute_raises() -> None:
    with pytest.raises(UndefinedError):
        sms("ready_to_ship", order={})


def test_unknown_message_raises() -> None:
    with pytest.raises(TemplatesNotFound):
        render_message("no_such_message", SMS, "en")


def test_message_name_cannot_leave_the_messages_folder() -> None:
    with pytest.raises(ValueError, match="not a message name"):
        render_message("../_base", SMS, "en")


def test_context_may_hold_variables_named_like_the_parameters() -> None:
    context = long_context("broadcast", "en")
    rendered = render_message("broadcast", SMS, "en", message="m", channel="c", name="n", **context)
    assert rendered.text.endswith("Reply STOP to opt out.")


def test_channel_may_be_given_as_text() -> None:
    context = long_context("opted_in", "en")
    assert render_message("opted_in", "sms", "en", **context) == render_message(
        "opted_in", SMS, "en", **context
    )


def test_dict_values_work_like_objects() -> None:
    offer = {**vars(long_context("cancel_confirmed", "en")["offer"]), "cancels_order": True}
    text = sms("cancel_confirmed", order={"number": "A-1"}, customer={"name": "Ann"}, offer=offer)
    assert "order A-1 is cancelled" in text


@pytest.mark.parametrize("channel", [SMS, TELEGRAM])
def test_a_cancel_confirmation_says_what_is_cancelled_and_the_money(channel: ChannelKind) -> None:
    """Issue 12 item 2: never "order cancelled, full refund" when one item of it was cancelled."""
    item = long_context("cancel_confirmed", "en")
    text = render_message("cancel_confirmed", channel, "en", **item).text
    assert "is cancelled from order" in text
    assert "rest of the order is unchanged" in text
    assert "$123,456.78" in text
    assert "order BO" not in text.split("is cancelled")[0].lower()
    whole = SimpleNamespace(**{**vars(item["offer"]), "cancels_order": True})
    text = render_message("cancel_confirmed", channel, "es", **{**item, "offer": whole}).text
    assert "pedido" in text
    assert "123.456,78" in text
    assert "sigue igual" not in text


def as_dicts(value: Any) -> Any:
    """``value`` with every SimpleNamespace, also inside lists, turned into a dict."""
    if isinstance(value, SimpleNamespace):
        return {key: as_dicts(item) for key, item in vars(value).items()}
    if isinstance(value, list):
        return [as_dicts(item) for item in value]
    return value


@pytest.mark.parametrize("channel", [SMS, TELEGRAM])
@pytest.mark.parametrize("locale", LOCALES)
@pytest.mark.parametrize("message", MESSAGES)
def test_dicts_and_objects_render_alike(message: str, locale: str, channel: ChannelKind) -> None:
    # Dicts (the notifier's) take a shortcut past getattr(); objects take Jinja2's usual path.
    for context in variants(message, locale):
        objects = render_message(message, channel, locale, **context)
        dicts = render_message(message, channel, locale, **as_dicts(context))
        assert dicts == objects


def test_dict_key_named_like_a_missing_one_still_raises() -> None:
    with pytest.raises(UndefinedError):
        sms("ready_to_ship", order={"numbers": "A-1"})


@pytest.mark.parametrize("channel", [SMS, TELEGRAM])
@pytest.mark.parametrize("locale", LOCALES)
@pytest.mark.parametrize("message", MESSAGES)
def test_output_has_no_trailing_whitespace_or_blank_runs(
    message: str, locale: str, channel: ChannelKind
) -> None:
    for context in variants(message, locale):
        text = render_message(message, channel, locale, **context).text
        assert text == text.strip()
        assert "\n\n\n" not in text
        assert not re.search(r"[ \t]\n", text)


@pytest.mark.parametrize("channel", [SMS, TELEGRAM])
def test_trailing_whitespace_of_any_kind_and_blank_runs_are_tidied(channel: ChannelKind) -> None:
    # Unicode spaces (no-break, em, ideographic), tabs and CRs at a line's end all go.
    text = "Back in stock! \t\u00a0\nToday\r\u2003\n\n\n\nSee you \u3000"
    context = long_context("broadcast", "en", text=text)
    rendered = render_message("broadcast", channel, "en", **context)
    assert "Back in stock!\nToday\n\nSee you" in rendered.text


def test_same_deadline_renders_in_each_customer_zone() -> None:
    # Aware datetimes in different zones are equal; a cache keyed on them alone would mix zones.
    tokyo = sms("backorder_notice", customer={"name": "Ann", "timezone": "Asia/Tokyo"})
    utc = sms("backorder_notice", customer={"name": "Ann"})
    assert "Reply by Jun 4, 8:59 AM." in tokyo
    assert "Reply by Jun 3, 11:59 PM." in utc


def test_overlong_callback_data_raises() -> None:
    offer = SimpleNamespace(**{**vars(no_alternative()), "id": "x" * 60})
    with pytest.raises(ValueError, match="longer than 64 bytes"):
        telegram("backorder_notice", offer=offer)


def test_plain_text_of_a_telegram_message_drops_tags_and_decodes_entities() -> None:
    from messaging.render import as_plain_text

    html_text = '<b>Casa</b> &amp; co: <a href="https://x.example/o/t">See your order</a> &lt;3'
    assert as_plain_text(html_text) == "Casa & co: See your order <3"


# --- delay notices: what each says silence does (16 CFR 435.2(b), store/delay_terms.py) --------

SILENCE = {
    ("en", "sms"): ("you agree to wait until then", "or we cancel it and refund $123,456.78"),
    ("es", "sms"): ("aceptas esperar hasta entonces", "o lo cancelamos y te devolvemos 123.456,78"),
    ("en", "telegram"): (
        "you agree to wait until that date",
        "we'll cancel it and refund $123,456.78",
    ),
    ("es", "telegram"): (
        "aceptas esperar hasta esa fecha",
        "lo cancelamos y te devolvemos 123.456,78",
    ),
}


@pytest.mark.parametrize("channel", [SMS, TELEGRAM])
@pytest.mark.parametrize("locale", LOCALES)
@pytest.mark.parametrize("kind", DELAY_NOTICE_KINDS)
def test_delay_notice_says_what_silence_does(kind: str, locale: str, channel: ChannelKind) -> None:
    consent, cancels = SILENCE[(locale, channel.value)]
    eta = None if kind == "first_unknown" else FAR_DATE
    context = long_context("delay_notice", locale, notice=kind, eta=eta)
    text = render_message("delay_notice", channel, locale, **context).text
    said, unsaid = (consent, cancels) if kind == "first" else (cancels, consent)
    assert said in text
    assert unsaid not in text
    assert "keep your order" not in text
    assert "mantenemos tu pedido" not in text


@pytest.mark.parametrize("locale", LOCALES)
def test_delay_notice_without_a_date_says_the_shop_cannot_tell(locale: str) -> None:
    context = long_context("delay_notice", locale, notice="renewed", eta=None)
    text = render_message("delay_notice", SMS, locale, **context).text
    assert ("can't tell when" in text) if locale == "en" else ("no sabemos cuando" in text)
    assert "to be confirmed" not in text


def test_delay_notice_quotes_the_revised_date_and_the_answer_deadline() -> None:
    text = sms("delay_notice", notice="renewed")
    assert "Sep 30, 2026" in text
    assert "Reply WAIT by Jun 3" in text


def test_telegram_delay_notice_offers_wait_and_cancel_buttons() -> None:
    rendered = telegram("delay_notice", notice="renewed")
    assert [b.data for b in rendered.buttons] == [
        f"offer:{OFFER_ID}:wait",
        f"offer:{OFFER_ID}:cancel",
    ]
    assert telegram("delay_notice").buttons == ()  # an agent's broadcast has no offer


@pytest.mark.parametrize("locale", ["en", "es", "es-MX", "es_mx", "pt-BR", "xx", ""])
def test_money_uses_the_babel_locale_name_it_always_did(locale: str) -> None:
    # The name is cached (str(Locale) rebuilt it per render); it must stay Babel's own.
    assert render._babel_locale_name(locale) == str(render._babel_locale(locale))
    assert render._format_money(123456, "EUR", locale) == format_money(
        123456, "EUR", str(render._babel_locale(locale))
    )
