"""The fast form signature check gives twilio's ``RequestValidator`` verdict, every time."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from starlette.datastructures import ImmutableMultiDict
from twilio.request_validator import RequestValidator

from bot.web.twilio_hmac import FormSignature

TOKEN = "fast-path-auth-token-0123456789abcdef"
URLS = st.sampled_from(
    [
        "https://shop.example/webhooks/twilio/sms",
        "https://shop.example:443/webhooks/twilio/sms",
        "https://shop.example:8443/bot/webhooks/twilio/sms",
        "http://shop.example/webhooks/twilio/sms?a=1&b=",
        "https://shop.example/webhooks/twilio/sms?bodySHA256=abc",
    ]
)
TEXT = st.text(st.characters(blacklist_categories=("Cs",)), max_size=12)
PARAMS = st.lists(st.tuples(st.sampled_from(["Body", "From", "b", "B", "é", ""]), TEXT), max_size=8)


def _variants(url: str) -> list[str]:
    """The URL as Twilio may have signed it: as given, and with and without the port."""
    without = url.replace(":443/", "/").replace(":8443/", "/")
    with_port = without.replace("https://shop.example/", "https://shop.example:443/")
    with_port = with_port.replace("http://shop.example/", "http://shop.example:80/")
    return [url, without, with_port]


@settings(max_examples=300, deadline=None)
@given(URLS, PARAMS, st.integers(0, 3), TEXT)
def test_same_verdict_as_twilios_validator(
    url: str, pairs: list[tuple[str, str]], signed_as: int, junk: str
) -> None:
    form = ImmutableMultiDict(pairs)
    validator = RequestValidator(TOKEN)
    # A signature over one spelling of the URL, or junk: both must get the validator's verdict.
    signature = (
        validator.compute_signature(_variants(url)[signed_as], form) if signed_as < 3 else junk
    )
    assert FormSignature(TOKEN).validate(url, form, signature) == validator.validate(
        url, form, signature
    )


def test_a_valid_signature_passes_and_one_changed_value_fails() -> None:
    url = "https://shop.example/webhooks/twilio/sms"
    form = ImmutableMultiDict([("Body", "STATUS"), ("From", "+14155550101"), ("FromZip", "")])
    signature = RequestValidator(TOKEN).compute_signature(url, form)
    check = FormSignature(TOKEN)
    assert check.validate(url, form, signature)
    assert check.validate("https://shop.example:443/webhooks/twilio/sms", form, signature)
    tampered = ImmutableMultiDict([("Body", "STATUS "), ("From", "+14155550101"), ("FromZip", "")])
    assert not check.validate(url, tampered, signature)
    assert not FormSignature("another-token").validate(url, form, signature)
    assert not check.validate(url, form, "")
