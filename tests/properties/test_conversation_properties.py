"""Property tests: whatever a customer sends, the conversation answers briefly and never fails.

Hypothesis generates any Unicode (astral planes, right-to-left marks, control characters, NUL),
any length up to and past what the providers allow, and any Telegram button data.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy.orm import Session

from bot.conversation import Conversation, Incoming, IntentKind, Sender, parse, parse_callback
from bot.conversation.intents import HELP_KEYWORDS, OPT_IN_KEYWORDS, OPT_OUT_KEYWORDS
from store.models import Channel, Customer
from store.policy import DEFAULT_POLICY
from tests import factories as f
from tests.factories import NOW

# Twilio's own ceilings: a reply longer than this would not be sent.
MAX_REPLY = {Channel.SMS: 1600, Channel.TELEGRAM: 4096}
KEYWORDS = sorted(OPT_OUT_KEYWORDS | OPT_IN_KEYWORDS | HELP_KEYWORDS)

any_text = st.text(max_size=6000) | st.text(
    alphabet=st.characters(codec="utf-8"), min_size=4000, max_size=12000
)


@pytest.fixture
def customer(session: Session) -> Customer:
    """A customer with one backordered order and an open offer (so replies can change things)."""
    f.product(session, "MUG-ALT", stock=10, category="mugs")
    f.product(session, "MUG", category="mugs", alternatives=("MUG-ALT",))
    who = f.customer(session)
    f.order(session, "A1001", [("MUG", 1)], who=who)
    return who


def _handle(session: Session, customer: Customer, channel: Channel, incoming: Incoming) -> None:
    conversation = Conversation(
        session,
        shop_name="Casa Verde",
        support_contact="+1 415 555 0134",
        policy=DEFAULT_POLICY,
        now=NOW,
        phone_region="US",
    )
    savepoint = session.begin_nested()  # each example starts from the same state
    try:
        sender = Sender(customer.id, chat_id=1 if channel is Channel.TELEGRAM else None)
        reply = conversation.handle(channel, sender, incoming)
        assert reply.text is None or 0 < len(reply.text) <= MAX_REPLY[channel]
        assert all(len(b.data.encode()) <= 64 for b in reply.buttons)
    finally:
        savepoint.rollback()


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(text=any_text, channel=st.sampled_from([Channel.SMS, Channel.TELEGRAM]))
def test_any_text_gets_a_bounded_answer_and_no_exception(
    session: Session, customer: Customer, text: str, channel: Channel
) -> None:
    _handle(session, customer, channel, Incoming(text))


@settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(data=st.text(max_size=200) | st.from_regex(r"offer:-?[0-9]{1,25}:[a-z]{0,10}"))
def test_any_button_data_gets_a_bounded_answer_and_no_exception(
    session: Session, customer: Customer, data: str
) -> None:
    _handle(session, customer, Channel.TELEGRAM, Incoming.button(data))


@settings(max_examples=120, deadline=None)
@given(text=any_text)
def test_the_parser_reads_any_text(text: str) -> None:
    intent = parse(text)
    assert intent.kind in IntentKind
    assert intent.order_number is None or len(intent.order_number) <= 64


@settings(max_examples=300, deadline=None)
@given(data=st.text(max_size=300))
def test_the_callback_parser_reads_any_data(data: str) -> None:
    assert parse_callback(data).kind in IntentKind


def _any_case(word: str, flips: list[bool]) -> str:
    return "".join(c.lower() if flip else c for c, flip in zip(word, flips, strict=False))


@settings(max_examples=300, deadline=None)
@given(
    word=st.sampled_from(KEYWORDS),
    flips=st.lists(st.booleans(), min_size=12, max_size=12),
    before=st.sampled_from(["", " ", "  ", "\n", "\t "]),
    after=st.sampled_from(["", " ", ".", "!", " \n"]),
)
def test_a_carrier_keyword_alone_in_any_case_is_that_keyword(
    word: str, flips: list[bool], before: str, after: str
) -> None:
    kind = parse(before + _any_case(word, flips) + after).kind
    expected = (
        IntentKind.OPT_OUT
        if word in OPT_OUT_KEYWORDS
        else IntentKind.OPT_IN
        if word in OPT_IN_KEYWORDS
        else IntentKind.HELP
    )
    assert kind == expected


@settings(max_examples=300, deadline=None)
@given(
    word=st.sampled_from(sorted(OPT_OUT_KEYWORDS)),
    other=st.from_regex(r"[a-z]{2,10}", fullmatch=True),
    first=st.booleans(),
)
def test_an_opt_out_keyword_inside_a_longer_message_is_not_an_opt_out(
    word: str, other: str, first: bool
) -> None:
    text = f"{word} {other}" if first else f"{other} {word}"
    assert parse(text).kind != IntentKind.OPT_OUT
