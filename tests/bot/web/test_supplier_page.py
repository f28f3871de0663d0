"""The supplier page, ``/s/<token>``, through the real app on the test database.

Each test opens the link the sweep put in a queued e-mail, as the supplier would.
"""

from __future__ import annotations

import datetime as dt

import httpx
import pytest
from sqlalchemy import func, select

from bot.settings import Settings
from bot.web import supplier_page
from bot.web.link_pages import PageLimits
from bot.web.ops import WebMetrics
from store.db import Database
from store.models import DomainEvent, EtaChange, EventKind, Product, utcnow
from store.supplier_requests import revoke_request
from store.tables_suppliers import SupplierAnswer, SupplierRequest, SupplierRequestItem
from tests.bot.web.conftest import client_for
from tests.bot.web.supplier_scenarios import CSRF_FIELD, ITEM_FIELD, Asked, ask, owed_backorders

pytestmark = pytest.mark.asyncio

EXPECTED_HEADERS = {
    "cache-control": "no-store",
    "referrer-policy": "no-referrer",
    "x-content-type-options": "nosniff",
    "content-security-policy": (
        "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'"
    ),
}


@pytest.fixture
def asked(committed_db: Database, settings: Settings) -> Asked:
    owed_backorders(committed_db, skus=("KETTLE", "TEAPOT"))
    return ask(committed_db, settings)


async def _form(client: httpx.AsyncClient, asked: Asked) -> tuple[str, list[str]]:
    page = await client.get(asked.path)
    assert page.status_code == 200, page.text
    csrf = CSRF_FIELD.search(page.text)
    assert csrf is not None
    return csrf.group(1), ITEM_FIELD.findall(page.text)


def _state(db: Database) -> dict[str, object]:
    with db.read_session() as session:
        return {
            "etas": dict(session.execute(select(Product.sku, Product.eta)).all()),
            "changes": session.scalar(select(func.count()).select_from(EtaChange)),
            "events": session.scalar(select(func.count()).select_from(DomainEvent)),
            "answered": session.scalar(
                select(func.count()).where(SupplierRequest.answered_at.is_not(None))
            ),
        }


def _assert_headers(response: httpx.Response) -> None:
    for name, value in EXPECTED_HEADERS.items():
        assert response.headers.get(name) == value, name


async def test_the_page_lists_each_sku_with_units_and_the_oldest_orders_age(
    client: httpx.AsyncClient, asked: Asked
) -> None:
    page = await client.get(asked.path)
    assert page.status_code == 200
    _assert_headers(page)
    assert "KETTLE" in page.text
    assert "TEAPOT" in page.text
    assert "2 units waiting; oldest order 5 days old." in page.text
    assert "We have no date yet." in page.text
    assert "<script" not in page.text


async def test_a_new_date_goes_through_set_eta_as_the_supplier(
    client: httpx.AsyncClient, asked: Asked, committed_db: Database
) -> None:
    csrf, items = await _form(client, asked)
    eta = (utcnow() + dt.timedelta(days=20)).date()
    data = {"csrf": csrf, f"answer_{items[0]}": "changed", f"eta_{items[0]}": eta.isoformat()}
    data[f"answer_{items[1]}"] = "unknown"
    data["note"] = "Factory closed for a week"
    posted = await client.post(asked.path, data=data)
    assert posted.status_code == 303
    _assert_headers(posted)
    assert posted.headers["location"] == asked.path + "?done=saved"

    with committed_db.read_session() as session:
        change = session.scalars(select(EtaChange)).one()
        assert (change.new_eta, change.source, change.reason) == (eta, "supplier", "supplier")
        told = session.scalars(
            select(DomainEvent.customer_id).where(DomainEvent.kind == EventKind.ETA_CHANGED)
        ).all()
        assert len(told) == 2  # one per waiting customer
        request = session.scalars(select(SupplierRequest)).one()
        assert request.note == "Factory closed for a week"
        answers = session.scalars(
            select(SupplierRequestItem.answer).order_by(SupplierRequestItem.id)
        ).all()
        assert answers == [SupplierAnswer.CHANGED, SupplierAnswer.UNKNOWN]
    shown = await client.get(posted.headers["location"])
    assert "your dates are saved" in shown.text


async def test_posting_the_same_date_again_tells_nobody_twice(
    client: httpx.AsyncClient, asked: Asked, committed_db: Database
) -> None:
    csrf, items = await _form(client, asked)
    eta = (utcnow() + dt.timedelta(days=20)).date().isoformat()
    data = {"csrf": csrf, f"answer_{items[0]}": "changed", f"eta_{items[0]}": eta}
    assert (await client.post(asked.path, data=data)).status_code == 303
    before = _state(committed_db)
    assert (await client.post(asked.path, data=data)).status_code == 303
    assert _state(committed_db)["events"] == before["events"]


async def test_a_past_date_saves_nothing_and_says_why(
    client: httpx.AsyncClient, asked: Asked, committed_db: Database
) -> None:
    csrf, items = await _form(client, asked)
    before = _state(committed_db)
    good = (utcnow() + dt.timedelta(days=9)).date().isoformat()
    past = (utcnow() - dt.timedelta(days=9)).date().isoformat()
    data = {
        "csrf": csrf,
        f"answer_{items[0]}": "changed",
        f"eta_{items[0]}": good,
        f"answer_{items[1]}": "changed",
        f"eta_{items[1]}": past,
    }
    refused = await client.post(asked.path, data=data)
    assert refused.status_code == 422
    assert "Nothing was saved" in refused.text
    assert "TEAPOT" in refused.text
    assert f'value="{good}"' in refused.text  # what was typed is kept
    assert _state(committed_db) == before


async def test_a_post_without_the_csrf_token_is_refused_and_changes_nothing(
    client: httpx.AsyncClient, asked: Asked, committed_db: Database
) -> None:
    _csrf, items = await _form(client, asked)
    before = _state(committed_db)
    eta = (utcnow() + dt.timedelta(days=20)).date().isoformat()
    for csrf in ("", "x" * 32):
        data = {"csrf": csrf, f"answer_{items[0]}": "changed", f"eta_{items[0]}": eta}
        refused = await client.post(asked.path, data=data)
        assert refused.status_code == 403
        _assert_headers(refused)
    assert _state(committed_db) == before


async def test_unknown_revoked_expired_and_malformed_tokens_get_one_identical_404(
    client: httpx.AsyncClient, asked: Asked, committed_db: Database, settings: Settings
) -> None:
    unknown = await client.get("/s/" + "A" * 22)
    malformed = await client.get("/s/not-a-token")
    other_path = await client.get(asked.path + "/extra")
    with committed_db.session() as session:
        request_id = session.scalars(select(SupplierRequest.id)).one()
        revoke_request(session, request_id, utcnow())
    revoked = await client.get(asked.path)
    posted = await client.post(asked.path, data={"csrf": ""})
    responses = [unknown, malformed, other_path, revoked]
    assert {r.status_code for r in responses} == {404}
    assert len({r.content for r in responses}) == 1
    assert posted.status_code == 403  # CSRF is checked before the token is looked up
    for response in responses:
        _assert_headers(response)

    fresh = ask(committed_db, settings)  # the revoked request is closed: a new one
    assert fresh.token != asked.token
    assert (await client.get(fresh.path)).status_code == 200
    with committed_db.session() as session:
        for request in session.scalars(select(SupplierRequest)):
            request.expires_at = utcnow() - dt.timedelta(seconds=1)
    expired = await client.get(fresh.path)
    assert expired.status_code == 404
    assert expired.content == unknown.content


async def test_too_many_requests_get_429_with_retry_after(
    committed_db: Database, settings: Settings, asked: Asked
) -> None:
    from fastapi import FastAPI

    app = FastAPI()
    limits = PageLimits(per_token=2, per_address=100, window_seconds=60)
    app.include_router(supplier_page.router(committed_db, settings, WebMetrics(), limits=limits))
    async with client_for(app) as client:
        assert (await client.get(asked.path)).status_code == 200
        assert (await client.get(asked.path)).status_code == 200
        limited = await client.get(asked.path)
    assert limited.status_code == 429
    assert int(limited.headers["retry-after"]) >= 1
    _assert_headers(limited)


async def test_the_page_speaks_the_suppliers_language(
    client: httpx.AsyncClient, committed_db: Database, settings: Settings
) -> None:
    owed_backorders(committed_db, supplier_locale="es")
    asked = ask(committed_db, settings)
    page = await client.get(asked.path)
    assert 'lang="es"' in page.text
    assert "Aún no tenemos fecha." in page.text
    assert "necesitamos fechas" in asked.email.subject
