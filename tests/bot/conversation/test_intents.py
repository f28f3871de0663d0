"""The message parser: carrier keywords exactly as Twilio treats them, offer replies, status."""

from __future__ import annotations

import pytest

from bot.conversation.intents import (
    OPT_OUT_KEYWORDS,
    Intent,
    IntentKind,
    parse,
    parse_callback,
)
from store.models import OfferChoice

OPT_OUT = IntentKind.OPT_OUT
OPT_IN = IntentKind.OPT_IN
HELP = IntentKind.HELP
STATUS = IntentKind.STATUS
REPLY = IntentKind.OFFER_REPLY
UNKNOWN = IntentKind.UNKNOWN
WAIT, SWITCH, CANCEL = OfferChoice.WAIT, OfferChoice.SWITCH, OfferChoice.CANCEL


@pytest.mark.parametrize(
    "text",
    [
        "STOP",
        "stop",
        "Stop",
        "  stop  ",
        "STOP.",
        "stop!",
        "¡Stop!",
        "STOP 🙏",
        "\tquit\n",
        "STOPALL",
        "Unsubscribe",
        "cancel",
        "CANCEL",
        "Cancel.",
        "end",
        "QUIT",
        "revoke",
        "OptOut",
    ],
)
def test_carrier_opt_out_words_opt_out(text: str) -> None:
    assert parse(text).kind is OPT_OUT


def test_every_twilio_opt_out_keyword_is_known() -> None:
    # Twilio's documented defaults; see the comment above OPT_OUT_KEYWORDS.
    twilio = {"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "REVOKE", "OPTOUT"}
    assert twilio == OPT_OUT_KEYWORDS


@pytest.mark.parametrize(
    "text",
    [
        "stop sending me the wrong size",
        "please stop",
        "STOP PLEASE",
        "stop it",
        "stpo",  # Twilio ignores a misspelt keyword, so we must too
        "opt-out",
        "opt out",
        "the end",
        "cancelar",  # neither Twilio's keyword nor enough to cancel an order on
        "please cancel",
    ],
)
def test_opt_out_word_inside_a_sentence_is_not_an_opt_out(text: str) -> None:
    assert parse(text).kind is not OPT_OUT


def test_bare_cancel_is_an_opt_out_never_an_offer_reply() -> None:
    intent = parse("Cancel")
    assert intent.kind is OPT_OUT
    assert intent.choice is None


def test_opt_out_reports_the_keyword_matched() -> None:
    assert parse(" stopall! ").keyword == "STOPALL"


@pytest.mark.parametrize("text", ["START", "start", "Unstop", "YES", "yes!", " Yes. ", "/start"])
def test_opt_in_words_opt_in(text: str) -> None:
    assert parse(text).kind is OPT_IN


@pytest.mark.parametrize("text", ["yes please", "start again", "yes, switch it"])
def test_opt_in_word_inside_a_sentence_is_not_an_opt_in(text: str) -> None:
    assert parse(text).kind is not OPT_IN


@pytest.mark.parametrize(
    "text", ["HELP", "help", "Help?", "INFO", "info", "AYUDA", "ayuda", "/help"]
)
def test_help_words_ask_for_help(text: str) -> None:
    assert parse(text).kind is HELP


@pytest.mark.parametrize(
    ("text", "choice"),
    [
        ("1", WAIT),
        (" 1. ", WAIT),
        ("WAIT", WAIT),
        ("wait", WAIT),
        ("Wait!", WAIT),
        ("wiat", WAIT),
        ("1/WAIT", WAIT),
        ("1 wait", WAIT),
        ("ESPERAR", WAIT),
        ("esperar", WAIT),
        ("Espero", WAIT),
        ("esperra", WAIT),
        ("2", SWITCH),
        ("SWITCH", SWITCH),
        ("switch", SWITCH),
        ("swtich", SWITCH),
        ("swich", SWITCH),
        ("2/SWITCH", SWITCH),
        ("CAMBIAR", SWITCH),
        ("cambiar", SWITCH),
        ("cambair", SWITCH),
        ("3", CANCEL),
        ("CANCEL ORDER", CANCEL),
        ("cancel order", CANCEL),
        ("Cancel order.", CANCEL),
        ("cancel  order", CANCEL),
        ("cancle order", CANCEL),
        ("cancel my order", CANCEL),
        ("3/CANCEL ORDER", CANCEL),
        ("CANCELAR PEDIDO", CANCEL),
        ("cancelar pedido", CANCEL),
        ("Cancelar mi pedido", CANCEL),
        ("cancelar el pedido", CANCEL),
        ("3/CANCELAR PEDIDO", CANCEL),
        # The late item of an order with other lines (issue 12 item 2).
        ("3/CANCEL ITEM", CANCEL),
        ("cancel item", CANCEL),
        ("cancel this item", CANCEL),
        ("3/CANCELAR PRODUCTO", CANCEL),
        ("cancelar este producto", CANCEL),
        ("cancelar artículo", CANCEL),
    ],
)
def test_offer_replies(text: str, choice: OfferChoice) -> None:
    intent = parse(text)
    assert (intent.kind, intent.choice, intent.order_number) == (REPLY, choice, None)


@pytest.mark.parametrize(
    ("text", "choice", "order_number"),
    [
        ("1 A1001", WAIT, "A1001"),
        ("wait #a1001", WAIT, "A1001"),
        ("2 BO-2026-004217", SWITCH, "BO-2026-004217"),
        ("SWITCH 1001", SWITCH, "1001"),
        ("3 A1001", CANCEL, "A1001"),
        ("CANCEL ORDER A1001", CANCEL, "A1001"),
        ("cancelar pedido 77-B", CANCEL, "77-B"),
    ],
)
def test_offer_reply_may_name_the_order(text: str, choice: OfferChoice, order_number: str) -> None:
    intent = parse(text)
    assert (intent.kind, intent.choice, intent.order_number) == (REPLY, choice, order_number)


@pytest.mark.parametrize(
    "text",
    [
        # Decided: a choice is applied only when the whole message is the choice (plus an
        # order number). "1 please" could be polite, but "2 of them arrived" is not a choice,
        # and a choice changes the order.
        "1 please",
        "2 of them arrived",
        "3 days late!",
        "1 2",
        "12",
        "1/SWITCH",  # the digit and the word disagree
        "I want to wait",
        "wait what?",
        "can I switch to the blue one",
        "cancel the blue one",
        "want",  # one letter from "wait": a four-letter word is corrected only by a swap
        "4",
        "0",
    ],
)
def test_a_sentence_containing_a_choice_is_not_an_offer_reply(text: str) -> None:
    assert parse(text).kind is not REPLY


@pytest.mark.parametrize(
    "text",
    [
        "STATUS",
        "status",
        "Status?",
        "statsu",
        "stauts",
        "ESTADO",
        "estado",
        "estdo",
        "/status",
        "where is my order",
        "Where is my order?",
        "wheres my order??",
        "where's my order",
        "Where’s my order",
        "WHERE IS MY ORDER",
        "were is my order",
        "wher is my ordr",
        "wehre is my oder",
        "when will it arrive",
        "When will my order arrive?",
        "when will my 2 mugs arrive",
        "has my order shipped?",
        "when does it ship",
        "track my order",
        "order status",
        "what's the status of my order",
        "ETA?",
        "¿dónde está mi pedido?",
        "donde esta mi pedido",
        "DONDE ESTA MI PEDIDO",
        "¿Dónde está?",
        "dónde está mi paquete",
        "cuándo llega",
        "cuando llega",
        "¿Cuándo llega mi pedido?",
        "cuando llegara mi pedido",
        "estado de mi pedido",
        "cuadno llega",
    ],
)
def test_status_questions(text: str) -> None:
    intent = parse(text)
    assert (intent.kind, intent.order_number) == (STATUS, None)


@pytest.mark.parametrize(
    ("text", "order_number"),
    [
        ("STATUS A1001", "A1001"),
        ("status a1001", "A1001"),
        ("Status #A1001", "A1001"),
        ("STATUS A1", "A1"),
        ("status 12", "12"),
        ("ESTADO BO-2026-004217", "BO-2026-004217"),
        ("/status A1001", "A1001"),
        ("/status@CasaVerdeBot A1001", "A1001"),
        ("where is order A1001?", "A1001"),
        ("where is my order #1001", "1001"),
        ("what's the status of order BO-2026-1?", "BO-2026-1"),
        ("¿dónde está mi pedido 4217?", "4217"),
    ],
)
def test_status_with_an_order_number(text: str, order_number: str) -> None:
    intent = parse(text)
    assert (intent.kind, intent.order_number) == (STATUS, order_number)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   ",
        "hello",
        "thanks!",
        "ok",
        "no",
        "stop sending me the wrong size",
        "cancel my order please",
        "🙂",
        "مرحبا، أين طلبي",
        "x" * 10_000,
        "where " * 5_000,
        "/unknowncommand",
        "offer:1:wait",  # callback data typed as text is not a button press
    ],
)
def test_anything_else_is_unknown(text: str) -> None:
    assert parse(text).kind is UNKNOWN


@pytest.mark.parametrize(
    ("text", "language"),
    [
        ("¿dónde está mi pedido?", "es"),
        ("cuándo llega", "es"),
        ("esperar", "es"),
        ("ayuda", "es"),
        ("where is my order", "en"),
        ("switch", "en"),
        ("1", None),
        ("STOP", None),
    ],
)
def test_language_is_told_from_the_words(text: str, language: str | None) -> None:
    assert parse(text).language == language


def test_start_with_a_deep_link_token_keeps_the_token() -> None:
    intent = parse("/start Ab3_x-9")
    assert (intent.kind, intent.payload) == (OPT_IN, "Ab3_x-9")


def test_start_with_a_malformed_token_drops_it() -> None:
    assert parse("/start not a token!").payload is None


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ("offer:12:wait", Intent(REPLY, choice=WAIT, offer_id=12)),
        ("offer:12:switch", Intent(REPLY, choice=SWITCH, offer_id=12)),
        ("offer:7:cancel", Intent(REPLY, choice=CANCEL, offer_id=7)),
        (" offer:7:cancel ", Intent(REPLY, choice=CANCEL, offer_id=7)),
    ],
)
def test_telegram_button_is_an_offer_reply_for_its_offer(data: str, expected: Intent) -> None:
    assert parse_callback(data) == expected


@pytest.mark.parametrize(
    "data",
    [
        "",
        "offer:x:wait",
        "offer:12:WAIT",
        "offer:12:refund",
        "offer:12",
        "offer:-1:wait",
        "offer:12:wait:extra",
        "offer:1234567890123456789012:wait",
        "STOP",
    ],
)
def test_malformed_button_data_is_unknown(data: str) -> None:
    assert parse_callback(data).kind is UNKNOWN
