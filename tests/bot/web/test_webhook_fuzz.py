"""Property-based fuzzing of both webhooks' bodies, over HTTP, with the right credentials.

Hypothesis draws the bodies: Twilio forms (arbitrary fields and values, with or without the
fields that identify a message, NUL and any other character but lone surrogates, which a form
cannot carry) and Telegram JSON (any JSON value, and update-shaped objects whose fields have the
wrong types, are missing, or hold odd text, including old updates without ``from.is_bot``).
Each is posted signed (Twilio) or with the secret header (Telegram) to the real app with the
Telegram handlers running against the fake Bot API. An authenticated caller always gets 200
(413 for an oversized body), never a 5xx; no handler fails and nothing is logged at ERROR.

The bodies are drawn by a ``@given`` function, then posted from the async test (the app runs in
the test's event loop); ``WEBHOOK_FUZZ_EXAMPLES`` sets how many of each (default 150).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
import pytest_asyncio
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.web.telegram_webhook import MAX_BODY_BYTES
from store.db import Database
from tests import twilio_signing
from tests.bot.web.telegram_harness import Bot, running_bot
from tests.messaging.fake_providers import FakeProviders

pytestmark = pytest.mark.asyncio

EXAMPLES = int(os.environ.get("WEBHOOK_FUZZ_EXAMPLES", "150"))
PUBLIC = "https://shop.example"
SMS_PATH = "/webhooks/twilio/sms"
TWILIO_TOKEN = "fuzz-twilio-auth-token-0123456789"
ACCOUNT = "AC" + "0" * 32
OK = {200, 413}

# Any character a form can carry (no lone surrogates), NUL and controls included.
chars = st.characters(exclude_categories=("Cs",))
text = st.text(chars, max_size=40)
long_text = st.text(chars, max_size=2000)


def draw_all(strategy: st.SearchStrategy[Any]) -> list[Any]:
    """``EXAMPLES`` values from ``strategy``, drawn the way Hypothesis explores (edges first)."""
    drawn: list[Any] = []

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(strategy)
    def collect(value: Any) -> None:
        drawn.append(value)

    collect()
    return drawn


# --- Twilio --------------------------------------------------------------------------------------

field_names = st.one_of(
    st.sampled_from(
        ["MessageSid", "SmsSid", "From", "To", "Body", "OptOutType", "AccountSid", "NumMedia"]
    ),
    text,
)
field_values = st.one_of(
    text,
    long_text,
    st.sampled_from(["STOP", "START", "HELP", "STATUS", "1", "2", "3", "+14155550177", ""]),
    st.integers().map(str),
)


@st.composite
def twilio_forms(draw: st.DrawFn) -> list[tuple[str, str]]:
    fields = draw(st.lists(st.tuples(field_names, field_values), max_size=12))
    if draw(st.booleans()):  # mostly a message that identifies itself, with fuzzed parts
        fields += [
            ("MessageSid", draw(st.one_of(st.just("SM" + "a" * 32), text, long_text))),
            ("From", draw(st.one_of(st.just("+14155550177"), text))),
            ("Body", draw(long_text)),
        ]
    return draw(st.permutations(fields))


# --- Telegram ------------------------------------------------------------------------------------

json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(chars, max_size=30),
)
any_json = st.recursive(
    json_scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4), st.dictionaries(st.text(chars, max_size=10), children)
    ),
    max_leaves=20,
)


def maybe(value: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """The field's right value, or a wrong one."""
    return st.one_of(value, any_json)


person = st.fixed_dictionaries(
    {"id": maybe(st.integers(1, 2**40))},
    optional={"is_bot": maybe(st.booleans()), "first_name": maybe(text)},  # old updates lack is_bot
)
chat = st.fixed_dictionaries(
    {"id": maybe(st.integers(-(2**45), 2**45))},
    optional={"type": maybe(st.sampled_from(["private", "group", "supergroup", "channel"]))},
)
entity = st.fixed_dictionaries(
    {
        "type": maybe(st.sampled_from(["bot_command", "url", "mention", "bold"])),
        "offset": maybe(st.integers(-5, 50)),
        "length": maybe(st.integers(-5, 50)),
    }
)
message = st.fixed_dictionaries(
    {},
    optional={
        "message_id": maybe(st.integers(0, 2**31)),
        "date": maybe(st.integers(0, 2**33)),
        "chat": maybe(chat),
        "from": maybe(person),
        "text": maybe(st.one_of(long_text, st.sampled_from(["/start", "/status x", "/stop"]))),
        "entities": maybe(st.lists(entity, max_size=3)),
        "contact": maybe(
            st.fixed_dictionaries(
                {"phone_number": maybe(text), "first_name": maybe(text)},
                optional={"user_id": maybe(st.integers(1, 2**40))},
            )
        ),
    },
)
callback = st.fixed_dictionaries(
    {},
    optional={
        "id": maybe(text),
        "from": maybe(person),
        "chat_instance": maybe(text),
        "data": maybe(st.one_of(text, st.sampled_from(["offer:1:wait", "offer:x:y", ":::"]))),
        "message": maybe(message),
    },
)
update_ids = st.integers(min_value=-(2**40), max_value=2**40)
updates = st.one_of(
    st.fixed_dictionaries(
        {"update_id": update_ids},
        optional={
            "message": maybe(message),
            "edited_message": maybe(message),
            "callback_query": maybe(callback),
            "my_chat_member": any_json,
        },
    ),
    st.dictionaries(st.text(chars, max_size=12), any_json).map(
        lambda d: {**d, "update_id": d.get("update_id", 1)}
    ),
    any_json,
)


def telegram_bodies() -> st.SearchStrategy[bytes]:
    return st.one_of(
        updates.map(lambda value: json.dumps(value).encode()),
        st.binary(max_size=200),  # not JSON, not even UTF-8
        st.just(b"{" * 5000 + b"}" * 5000),
        st.just(b" " * (MAX_BODY_BYTES + 1)),
    )


# --- the tests -----------------------------------------------------------------------------------


@pytest_asyncio.fixture
async def bot(
    committed_db: Database, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> AsyncIterator[Bot]:
    monkeypatch.chdir(tmp_path)
    async with (
        FakeProviders() as fake,
        running_bot(
            committed_db,
            fake,
            twilio_account_sid=ACCOUNT,
            twilio_auth_token=TWILIO_TOKEN,
            twilio_from_number="+14155550100",
        ) as running,
    ):
        yield running


def errors_in(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        f"{r.name}: {r.getMessage()}"
        for r in caplog.records
        if r.levelno >= logging.ERROR or r.exc_info is not None
    ]


async def test_any_signed_twilio_form_is_answered_200(
    bot: Bot, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    forms = draw_all(twilio_forms())
    for form in forms:
        headers = {
            "content-type": "application/x-www-form-urlencoded",
            "X-Twilio-Signature": twilio_signing.sign(PUBLIC + SMS_PATH, form, TWILIO_TOKEN),
        }
        response = await bot.client.post(SMS_PATH, content=urlencode(form), headers=headers)
        assert response.status_code in OK, (form, response.status_code, response.text[:300])
        if response.status_code == 200:
            assert response.text.startswith("<?xml"), form
    assert errors_in(caplog) == []


async def test_any_telegram_body_with_the_secret_is_answered_200(
    bot: Bot, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    bodies = draw_all(telegram_bodies())
    for body in bodies:
        response = await bot.post(body)
        assert response.status_code in OK, (body[:300], response.status_code)
        if len(body) > MAX_BODY_BYTES:
            assert response.status_code == 413
    # Let the handlers finish what was queued; running_bot then fails on any handler error.
    await asyncio.sleep(0.5)
    assert errors_in(caplog) == []
