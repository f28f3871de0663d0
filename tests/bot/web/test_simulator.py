"""The customer simulator (sandbox mode): what it sends goes through the real, signed webhooks."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio
from sqlalchemy import select

from bot.settings import Settings
from bot.web import create_app
from bot.web.simulator import link_parts
from store.db import Database
from store.models import Customer, LineStatus, Order, utcnow
from tests import factories as f
from tests.bot.web.conftest import client_for, twilio_settings

pytestmark = pytest.mark.asyncio

PHONE = "+14155550166"


@pytest_asyncio.fixture
async def simulator(
    committed_db: Database, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> AsyncIterator[httpx.AsyncClient]:
    monkeypatch.chdir(tmp_path)
    settings = Settings(sandbox_log=str(tmp_path / "sandbox.jsonl"))  # type: ignore[call-arg]
    assert settings.sandbox
    app = create_app(settings, committed_db)
    async with app.router.lifespan_context(app), client_for(app) as client:
        yield client


@pytest.fixture
def ada(committed_db: Database) -> int:
    with committed_db.session() as session:
        f.product(session, "MUG-ALT", stock=10, category="mugs")
        f.product(session, "MUG", category="mugs", alternatives=("MUG-ALT",))
        who = f.customer(session, phone=PHONE)
        f.order(session, "A1001", [("MUG", 1)], who=who, placed_at=utcnow())
        return who.id


async def thread(client: httpx.AsyncClient, customer: int) -> dict[str, Any]:
    response = await client.get("/simulator/api/thread", params={"customer": customer})
    assert response.status_code == 200
    return dict(response.json())


async def until(
    client: httpx.AsyncClient, customer: int, check: Callable[[dict[str, Any]], bool]
) -> dict[str, Any]:
    for _ in range(200):
        data = await thread(client, customer)
        if check(data):
            return data
        await asyncio.sleep(0.02)
    raise AssertionError(f"the simulator never showed it: {data}")


async def test_the_page_lists_customers_under_a_strict_csp(
    simulator: httpx.AsyncClient, ada: int
) -> None:
    response = await simulator.get("/simulator")
    assert response.status_code == 200
    assert "Ada Lovelace" in response.text
    assert "script-src 'self'" in response.headers["content-security-policy"]
    script = await simulator.get("/simulator/static/simulator.js")
    assert script.status_code == 200
    assert (await simulator.get("/simulator/static/../../app.py")).status_code == 404


async def test_an_sms_goes_through_the_signed_webhook_and_the_answer_shows(
    simulator: httpx.AsyncClient, ada: int
) -> None:
    sent = await simulator.post(
        "/simulator/api/send", json={"customer": ada, "channel": "sms", "text": "STATUS"}
    )
    assert sent.json() == {"webhook_status": 200}
    data = await until(simulator, ada, lambda d: len(d["sms"]) == 2)
    assert [b["direction"] for b in data["sms"]] == ["in", "out"]
    assert "A1001" in data["sms"][1]["text"]


async def test_a_telegram_chat_links_then_switches_with_a_button(
    simulator: httpx.AsyncClient, committed_db: Database, ada: int
) -> None:
    linked = await simulator.post("/simulator/api/link", json={"customer": ada})
    assert linked.json() == {"webhook_status": 200}
    await until(simulator, ada, lambda d: d["customer"]["telegram_linked"])
    await simulator.post(
        "/simulator/api/send", json={"customer": ada, "channel": "telegram", "text": "/status"}
    )
    data = await until(
        simulator,
        ada,
        lambda d: any(b["buttons"] for b in d["telegram"] if b["direction"] == "out"),
    )
    [offer] = [b for b in data["telegram"] if b["buttons"]]
    switch = next(b["data"] for b in offer["buttons"] if b["data"].endswith(":switch"))
    await simulator.post(
        "/simulator/api/send", json={"customer": ada, "channel": "telegram", "button": switch}
    )
    await until(simulator, ada, lambda d: d["telegram"][-1]["direction"] == "button")
    for _ in range(200):
        with committed_db.read_session() as session:
            order = session.scalars(select(Order).where(Order.number == "A1001")).one()
            if order.lines[0].status == LineStatus.SWITCHED:
                break
        await asyncio.sleep(0.02)
    else:
        raise AssertionError("the switch was not applied")
    with committed_db.read_session() as session:
        customer = session.get(Customer, ada)
        assert customer is not None
        assert customer.telegram_chat_id is not None


async def test_a_form_post_is_refused_and_sends_nothing(
    simulator: httpx.AsyncClient, ada: int
) -> None:
    response = await simulator.post(
        "/simulator/api/send",
        data={"customer": str(ada), "channel": "sms", "text": "STOP"},
    )
    assert response.status_code in (415, 422)
    assert (await thread(simulator, ada))["sms"] == []


async def test_with_real_credentials_there_is_no_simulator(
    committed_db: Database, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    app = create_app(twilio_settings(), committed_db)
    async with client_for(app) as client:
        assert (await client.get("/simulator")).status_code == 404
        assert (await client.post("/simulator/api/link", json={"customer": 1})).status_code == 404


async def test_a_telegram_link_keeps_its_url_beside_its_label() -> None:
    html = (
        "Your order <b>A1</b> is late.\n"
        '<a href="https://shop.example/o/tok?x=1&amp;y=2">See your order online</a>'
    )
    assert link_parts(html, telegram=True) == [
        {"text": "Your order A1 is late.\n"},
        {"text": "See your order online", "url": "https://shop.example/o/tok?x=1&y=2"},
    ]


async def test_a_web_address_in_an_sms_becomes_a_link_without_its_full_stop() -> None:
    assert link_parts("See https://shop.example/o/abc. Reply STOP", telegram=False) == [
        {"text": "See "},
        {"text": "https://shop.example/o/abc", "url": "https://shop.example/o/abc"},
        {"text": ". Reply STOP"},
    ]


async def test_a_script_address_is_not_a_link() -> None:
    assert link_parts('<a href="javascript:alert(1)">x</a>', telegram=True) == [{"text": "x"}]
