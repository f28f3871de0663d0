"""The TwiML answers are the bytes twilio's ``MessagingResponse`` writes, for any reply text."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from twilio.twiml.messaging_response import MessagingResponse

from bot.web.twilio_sms import twiml


def _twilios(text: str | None) -> bytes:
    response = MessagingResponse()
    if text:
        response.message(text)
    return str(response).encode()


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.none(), st.text(st.characters(blacklist_categories=("Cs",)))))
def test_same_bytes_as_messaging_response(text: str | None) -> None:
    assert twiml(text).body == _twilios(text)


def test_markup_in_a_reply_is_escaped() -> None:
    hostile = 'Order <b>A1</b> & "B2" > </Message><Redirect>https://evil.example</Redirect>'
    assert twiml(hostile).body == _twilios(hostile)
    assert b"<Redirect>" not in twiml(hostile).body
    assert twiml("").body == _twilios(None) == twiml(None).body
