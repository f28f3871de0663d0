"""GET /api/refunds and POST /api/refunds/{id}/settle: a cancelled item's refund is on the list
until the shop says it is paid (issue 12 item 2)."""

import datetime as dt

import httpx
import pytest

from store.db import Database
from store.models import OfferChoice, Order
from store.offers import accept_offer
from store.policy import DEFAULT_POLICY
from tests.bot.web.test_api import ORDER, PRODUCT, api, api_settings  # noqa: F401 (fixtures)


def _cancel_the_late_line(db: Database) -> None:
    with db.session() as session:
        order = session.query(Order).filter_by(number=ORDER["number"]).one()
        accept_offer(
            session,
            order.lines[0].offers[-1].id,
            OfferChoice.CANCEL,
            via="sms",
            now=dt.datetime.now(dt.UTC),
            policy=DEFAULT_POLICY,
        )


@pytest.mark.asyncio
async def test_a_cancelled_item_is_owed_until_settled(
    api: httpx.AsyncClient,  # noqa: F811
    committed_db: Database,
) -> None:
    assert (await api.put("/api/products/OVEN-5", json={**PRODUCT, "stock_on_hand": 0})).is_success
    assert (await api.post("/api/orders", json=ORDER)).status_code == 201
    _cancel_the_late_line(committed_db)
    (due,) = (await api.get("/api/refunds")).json()
    assert (due["order_number"], due["quantity"], due["amount"], due["currency"]) == (
        "A-1001",
        3,
        "357.00",
        "USD",
    )
    settle = f"/api/refunds/{due['id']}/settle"
    first = await api.post(settle, json={"reference": "re_1"})
    again = await api.post(settle, json={"reference": "re_1"})
    assert first.status_code == again.status_code == 200
    assert first.json() == again.json()
    assert (await api.get("/api/refunds")).json() == []
    assert len((await api.get("/api/refunds", params={"status": "all"})).json()) == 1
    assert (await api.post(settle, json={"reference": "re_2"})).status_code == 409
    assert (await api.post("/api/refunds/999/settle", json={})).status_code == 404
    assert (await api.post("/api/refunds/99999999999/settle", json={})).status_code == 404
    assert (await api.post(settle, json={"reference": ""})).status_code == 422
    assert (await api.get("/api/refunds", params={"status": "paid"})).status_code == 422
