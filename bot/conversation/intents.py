"""What a customer's message asks for: a pure parser, English and Spanish, forgiving of typos.

Order of precedence, first match wins:

1. the carrier keywords, compared with the WHOLE message (case, surrounding whitespace and
   punctuation ignored), exactly as Twilio treats them: opt-out, opt-in, help. "STOP" opts out;
   "stop sending me the wrong size" does not; "stpo" does not either (Twilio would not honour it,
   so neither do we: the two opt-out lists must never disagree);
2. Telegram commands (``/status [number]``, ``/help``, ``/stop``, ``/start [payload]``);
3. an offer reply, again the whole message: ``1``/``WAIT``/``ESPERAR``, ``2``/``SWITCH``/
   ``CAMBIAR``, ``3``/``CANCEL ITEM``/``CANCEL ORDER``/``CANCELAR PRODUCTO``/``CANCELAR PEDIDO``
   (both cancel the late item; the order goes only when nothing else is left in it, and the
   confirmation says which), optionally followed by an order number
   ("2 A1001") to say which order's choice is meant. A message that merely starts with a choice
   ("1 please", "2 of them arrived") is NOT a reply: choices change orders, so only an
   unmistakable message applies one;
4. a status question: ``STATUS``/``ESTADO`` with an optional order number, or free text such as
   "where is my order", "when will it arrive", "¿dónde está mi pedido?", "cuándo llega";
5. anything else is unknown.

A bare ``CANCEL`` is a carrier opt-out keyword and so never an offer reply; a bare ``CANCELAR`` is
neither (Twilio does not know it, and one word is too little to cancel an order on).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from enum import StrEnum
from functools import lru_cache

from store.models import OfferChoice

__all__ = [
    "HELP_KEYWORDS",
    "OPT_IN_KEYWORDS",
    "OPT_OUT_KEYWORDS",
    "Intent",
    "IntentKind",
    "parse",
    "parse_callback",
]


class IntentKind(StrEnum):
    STATUS = "status"
    OFFER_REPLY = "offer_reply"
    HELP = "help"
    OPT_OUT = "opt_out"
    OPT_IN = "opt_in"
    SHARED_CONTACT = "shared_contact"  # Telegram: the sender shared a contact card, to link
    HUMAN = "human"  # asked for a person: answered by bot.agents.handoff, never by parse()
    ATTACHMENT = "attachment"  # Telegram: a sticker, voice note, file, location... and no text
    UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True)
class Intent:
    kind: IntentKind
    # STATUS and OFFER_REPLY: the order the customer named, upper-cased ("A1001"), if any.
    order_number: str | None = None
    choice: OfferChoice | None = None  # OFFER_REPLY
    offer_id: int | None = None  # OFFER_REPLY from a Telegram button: the offer it belongs to
    keyword: str | None = None  # the carrier keyword or command matched, upper-cased ("STOP")
    payload: str | None = None  # Telegram "/start <payload>": a deep-link (linking) token
    language: str | None = None  # "en" or "es" when the words tell, for senders we don't know


# Twilio's default keyword lists for long codes and toll-free numbers, as documented in
# "Twilio support for opt-out keywords (SMS STOP filtering)"
# (https://help.twilio.com/articles/223134027) and "Customize users' opt-in and opt-out
# experience with Advanced Opt-Out" (https://www.twilio.com/docs/messaging/tutorials/
# advanced-opt-out): "STOP, UNSUBSCRIBE, END, QUIT, STOPALL, REVOKE, OPTOUT, and CANCEL" opt out,
# "START, YES, UNSTOP" opt back in, "HELP, INFO" ask for help, and "only single-word messages will
# trigger" them ("STOP PLEASE" does not). Twilio compares case-insensitively; we also ignore
# whitespace and punctuation around the word ("Stop!", " stop. ").
OPT_OUT_KEYWORDS = frozenset(
    {"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "REVOKE", "OPTOUT"}
)
OPT_IN_KEYWORDS = frozenset({"START", "UNSTOP", "YES"})
HELP_KEYWORDS = frozenset({"HELP", "INFO"})
# Ours, not Twilio's: Twilio passes these through to us like any other text.
_HELP_WORDS_ES = frozenset({"AYUDA"})

_CALLBACK = re.compile(r"offer:(\d{1,18}):(wait|switch|cancel)")
_COMMAND = re.compile(r"/([A-Za-z]+)(?:@\w+)?(?:\s+(.*))?", re.DOTALL)
_START_PAYLOAD = re.compile(r"[A-Za-z0-9_-]{1,64}")  # Telegram's deep-link alphabet and length
# An order number as a customer types it: letters and digits, inner - _ . allowed, a digit
# somewhere (so "please" or "my" is never taken for one), an optional leading "#".
_ORDER_REF = re.compile(r"#?([A-Z0-9]+(?:[-_.][A-Z0-9]+)*)")
_MAX_ORDER_REF = 64  # the orders.number column
# Longer messages are complaints or stories, not commands; their first words still count.
_MAX_WORDS = 40
_MAX_CHARS = 1000

_WAIT = frozenset({"wait", "esperar", "espero", "espera"})
_SWITCH = frozenset({"switch", "cambiar", "cambio"})
_CANCEL_VERBS = frozenset({"cancel", "cancelar", "cancela"})
_ORDER_NOUNS = frozenset({"order", "pedido"})
# What the "cancel" choice names: the late item ("3/CANCEL ITEM"), or the order when it is all.
_CANCEL_OBJECTS = _ORDER_NOUNS | {"item", "producto", "articulo"}
_FILLERS = frozenset(
    {"my", "the", "this", "mi", "el", "este"}
)  # "cancel my order", "cancelar el pedido"
_DIGITS = {"1": OfferChoice.WAIT, "2": OfferChoice.SWITCH, "3": OfferChoice.CANCEL}

_STATUS_WORDS = frozenset(
    {"status", "estado", "track", "tracking", "eta", "rastrear", "seguimiento"}
)
_QUESTION_WORDS = frozenset({"where", "wheres", "when", "whens", "donde", "cuando"})
_OBJECT_WORDS = frozenset(
    {
        *("order", "orders", "package", "parcel", "delivery", "shipment", "stuff"),
        *("item", "items", "it", "they", "them"),
        *("pedido", "pedidos", "paquete", "compra", "envio", "entrega"),
    }
)
_NOUNS = _OBJECT_WORDS - {"it", "they", "them"}
_ARRIVAL_WORDS = frozenset(
    {
        *("arrive", "arrives", "arriving", "arrival", "come", "coming", "ship", "ships"),
        *("shipped", "shipping", "deliver", "delivered"),
        *("llega", "llegara", "llegan", "llegaran", "llegar", "llego", "viene", "vienen"),
        *("enviado", "enviaran", "envian", "recibo", "recibire", "esta", "estan"),
    }
)
_SPANISH = frozenset(
    {
        *_WAIT - {"wait"},
        *("cambiar", "cambio", "cancelar", "cancela", "pedido", "pedidos", "mi", "el"),
        *("estado", "rastrear", "seguimiento", "donde", "cuando", "paquete", "compra", "envio"),
        *("entrega", "llega", "llegara", "llegan", "llegaran", "llegar", "llego", "viene"),
        *("vienen", "enviado", "enviaran", "envian", "recibo", "recibire", "esta"),
        *("estan", "ayuda", "producto", "articulo", "este"),
    }
)
# Words typos are corrected towards. Never the carrier keywords: "stpo" must stay unknown.
_VOCABULARY = tuple(
    sorted(
        (_WAIT | _SWITCH | _CANCEL_VERBS | _ORDER_NOUNS | _STATUS_WORDS | _QUESTION_WORDS)
        | (_OBJECT_WORDS | _ARRIVAL_WORDS)
    )
)


def parse(text: str) -> Intent:
    """What ``text`` (an SMS body or a Telegram message) asks for."""
    text = text[:_MAX_CHARS]
    keyword = _strip_punctuation(text).upper()
    if keyword in OPT_OUT_KEYWORDS:
        return Intent(IntentKind.OPT_OUT, keyword=keyword)
    if keyword in OPT_IN_KEYWORDS:
        return Intent(IntentKind.OPT_IN, keyword=keyword)
    if keyword in HELP_KEYWORDS:
        return Intent(IntentKind.HELP, keyword=keyword)
    if _fold(keyword).upper() in _HELP_WORDS_ES:
        return Intent(IntentKind.HELP, keyword=keyword, language="es")
    command = _COMMAND.fullmatch(text.strip())
    if command is not None:
        return _command(command.group(1).lower(), (command.group(2) or "").strip())
    words = _words(text)
    if not words:
        return Intent(IntentKind.UNKNOWN)
    return _offer_reply(words) or _status(words) or Intent(IntentKind.UNKNOWN)


def parse_callback(data: str) -> Intent:
    """A Telegram inline button's callback data: ``offer:<id>:wait|switch|cancel``."""
    match = _CALLBACK.fullmatch(data.strip())
    if match is None:
        return Intent(IntentKind.UNKNOWN)
    return Intent(
        IntentKind.OFFER_REPLY, choice=OfferChoice(match.group(2)), offer_id=int(match.group(1))
    )


def _command(name: str, argument: str) -> Intent:
    if name == "stop":
        return Intent(IntentKind.OPT_OUT, keyword="/STOP")
    if name == "start":
        payload = argument if _START_PAYLOAD.fullmatch(argument) else None
        return Intent(IntentKind.OPT_IN, keyword="/START", payload=payload)
    if name == "help":
        return Intent(IntentKind.HELP, keyword="/HELP")
    if name in {"status", "estado"}:
        refs = [_order_ref(word) for word in argument.split()]
        return Intent(IntentKind.STATUS, order_number=next((r for r in refs if r), None))
    return Intent(IntentKind.UNKNOWN)


def _offer_reply(words: list[str]) -> Intent | None:
    """A choice when the message is only a choice, optionally followed by an order number."""
    order_number = _order_ref(words[-1]) if len(words) > 1 else None
    if order_number is not None and order_number.isdigit() and len(order_number) < 3:
        order_number = None  # "1 2" is a confused reply, not choice 1 for order 2
    body = [_correct(w) for w in (words[:-1] if order_number else words)]
    choice = _choice(body)
    if choice is None:
        return None
    return Intent(
        IntentKind.OFFER_REPLY, choice=choice, order_number=order_number, language=_language(body)
    )


def _choice(words: list[str]) -> OfferChoice | None:
    # "1/WAIT" as printed in our SMS arrives as "1 wait": the digit and the word must agree.
    digit = _DIGITS.get(words[0]) if words else None
    rest = words[1:] if digit is not None else words
    if not rest:
        return digit
    named: OfferChoice | None = None
    if len(rest) == 1 and rest[0] in _WAIT:
        named = OfferChoice.WAIT
    elif len(rest) == 1 and rest[0] in _SWITCH:
        named = OfferChoice.SWITCH
    elif (
        len(rest) in (2, 3)
        and rest[0] in _CANCEL_VERBS
        and rest[-1] in _CANCEL_OBJECTS
        and all(w in _FILLERS for w in rest[1:-1])
    ):
        named = OfferChoice.CANCEL
    if named is None or (digit is not None and digit != named):
        return None
    return named


def _status(words: list[str]) -> Intent | None:
    corrected = [_correct(w) for w in words]
    present = set(corrected)
    if corrected[0] in _STATUS_WORDS:
        # A command: "STATUS", "ESTADO A1001", "status of my order #A1001".
        refs = (_order_ref(w) for w in words[1:])
    elif (
        (present & _STATUS_WORDS and present & _OBJECT_WORDS)
        or (present & _QUESTION_WORDS and present & (_OBJECT_WORDS | _ARRIVAL_WORDS))
        or (present & _NOUNS and present & _ARRIVAL_WORDS)  # "has my order shipped?"
    ):
        # Free text: in a sentence only a number that looks like one counts, so the "2" of
        # "when will my 2 mugs arrive" is not taken for an order number.
        refs = (r for r in map(_order_ref, words) if r and (len(r) >= 3 or not r.isdigit()))
    else:
        return None
    return Intent(
        IntentKind.STATUS,
        order_number=next((r for r in refs if r), None),
        language=_language(corrected),
    )


def _order_ref(word: str) -> str | None:
    match = _ORDER_REF.fullmatch(word.upper())
    if match is None or len(match.group(1)) > _MAX_ORDER_REF:
        return None
    ref = match.group(1)
    return ref if any(c.isdigit() for c in ref) else None


def _language(words: list[str]) -> str | None:
    if any(w in _SPANISH for w in words):
        return "es"
    if any(w in _VOCABULARY for w in words):
        return "en"
    return None


def _words(text: str) -> list[str]:
    """Lower-case, accent-free words; apostrophes join ("where's" -> "wheres")."""
    folded = _fold(text).lower().replace("'", "").replace("’", "")
    # "/" splits "1/WAIT"; "#", "-", "_" and "." stay inside order numbers ("#A-1001").
    return re.findall(r"#?[a-z0-9]+(?:[-_.][a-z0-9]+)*", folded)[:_MAX_WORDS]


def _fold(text: str) -> str:
    """Drop accents: customers type "donde esta" as often as "dónde está"."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def _strip_punctuation(text: str) -> str:
    """The text without surrounding whitespace, punctuation and symbols ("¡Stop!" -> "Stop").

    Symbols include emoji ("STOP 🙏"): if Twilio did not count such a message, honouring it
    anyway only sends less, while missing one Twilio counted would have us message someone who
    opted out.
    """
    start, end = 0, len(text)
    while start < end and _is_edge(text[start]):
        start += 1
    while end > start and _is_edge(text[end - 1]):
        end -= 1
    return text[start:end]


def _is_edge(char: str) -> bool:
    # P*: punctuation, S*: symbols and emoji, Mn/Cf: emoji variation selectors and joiners.
    category = unicodedata.category(char)
    return char.isspace() or category[0] in "PS" or category in ("Mn", "Cf")


@lru_cache(maxsize=4096)
def _correct(word: str) -> str:
    """``word``, or the vocabulary word it is a typo of.

    One edit (insert, delete, replace, swap two neighbours), two when both words have eight
    letters or more; between two four-letter words only a swap ("wiat"), since one replacement
    turns "want" into "wait". Words under four letters must be spelled right, and the first
    letter of a short word is trusted.
    """
    if word in _VOCABULARY or len(word) < 4 or not word.isalpha():
        return word
    for candidate in _VOCABULARY:
        if abs(len(candidate) - len(word)) > 2 or (candidate[0] != word[0] and len(word) < 8):
            continue
        if len(candidate) == len(word) == 4:
            if _is_one_swap(word, candidate):
                return candidate
            continue
        budget = 2 if min(len(word), len(candidate)) >= 8 else 1
        if _distance(word, candidate, budget) <= budget:
            return candidate
    return word


def _is_one_swap(a: str, b: str) -> bool:
    diff = [i for i in range(len(a)) if a[i] != b[i]]
    if len(diff) != 2 or diff[1] != diff[0] + 1:
        return False
    i, j = diff
    return a[i] == b[j] and a[j] == b[i]


def _distance(a: str, b: str, budget: int) -> int:
    """Optimal string alignment distance (Levenshtein plus neighbour swaps), capped."""
    if abs(len(a) - len(b)) > budget:
        return budget + 1
    previous2: list[int] = []
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i] + [0] * len(b)
        for j, cb in enumerate(b, 1):
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb))
            if i > 1 and j > 1 and ca == b[j - 2] and a[i - 2] == cb:
                current[j] = min(current[j], previous2[j - 2] + 1)
        previous2, previous = previous, current
    return previous[-1]
