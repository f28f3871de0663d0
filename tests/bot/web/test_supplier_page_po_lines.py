"""The supplier page's answers per purchase-order line, through the real app on the test database.

A SKU with open purchase-order lines is answered line by line: each line's date is confirmed,
changed or unknown; the SKU's date becomes its earliest open line's, through the same
``set_eta`` (reason "supplier"), so the waiting customers are told once.
"""

from __future__ import annotations

import datetime as dt
import re

import httpx
import pytest
from sqlalchemy import func, select

from bot.settings import Settings
from store.catalog import PurchaseLineData, record_purchase_order
from store.db import Database
from store.models import (
    DomainEvent,
    EtaChange,
    EventKind,
    Product,
    PurchaseOrder,
    PurchaseOrderLine,
    utcnow,
)
from store.tables_suppliers import SupplierAnswer, SupplierLineAnswer, SupplierRequestItem
from tests import factories as f
from tests.bot.web.supplier_scenarios import CSRF_FIELD, SUPPLIER, Asked, ask, owed_backorders

pytestmark = pytest.mark.asyncio

LINE_FIELD = re.compile(r'name="answer_po_(\d+)" value="changed"')
SKU_FIELD = re.compile(r'name="answer_(\d+)" value="changed"')


def _purchase_order(db: Database, settings: Settings, reference: str, supplier: str) -> None:
    with db.session() as session:
        record_purchase_order(
            session,
            reference=reference,
            supplier=supplier,
            lines=[PurchaseLineData("KETTLE", 5, None)],
            policy=settings.policy(),
            now=utcnow(),
        )


@pytest.fixture
def asked(committed_db: Database, settings: Settings) -> Asked:
    """KETTLE (two open purchase orders, no date yet) and TEAPOT (none), each waited for by
    two customers; the supplier has been asked."""
    owed_backorders(committed_db, skus=("KETTLE", "TEAPOT"))
    _purchase_order(committed_db, settings, "PO-1", SUPPLIER)
    _purchase_order(committed_db, settings, "PO-2", SUPPLIER)
    return ask(committed_db, settings)


async def _form(client: httpx.AsyncClient, asked: Asked) -> tuple[str, dict[str, str]]:
    """The CSRF token and the purchase-order line fields by reference, as the page shows them."""
    page = await client.get(asked.path)
    assert page.status_code == 200, page.text
    csrf = CSRF_FIELD.search(page.text)
    assert csrf is not None
    lines = {}
    for line_id in LINE_FIELD.findall(page.text):
        block = page.text[page.text.index(f'id="po-line-{line_id}"') :]
        reference = re.search(r"<strong>(PO-\d)</strong>", block)
        assert reference is not None
        lines[reference.group(1)] = line_id
    return csrf.group(1), lines


def _line_dates(db: Database) -> dict[str, dt.date | None]:
    with db.read_session() as session:
        rows = session.execute(
            select(PurchaseOrder.reference, PurchaseOrderLine.expected_date).join(PurchaseOrder)
        ).all()
    return dict(rows)


def _state(db: Database) -> dict[str, object]:
    with db.read_session() as session:
        return {
            "lines": _line_dates(db),
            "etas": dict(session.execute(select(Product.sku, Product.eta)).all()),
            "changes": session.scalar(select(func.count()).select_from(EtaChange)),
            "events": session.scalar(select(func.count()).select_from(DomainEvent)),
            "line_answers": session.scalar(select(func.count()).select_from(SupplierLineAnswer)),
        }


def _told(db: Database) -> list[int | None]:
    with db.read_session() as session:
        return list(
            session.scalars(
                select(DomainEvent.customer_id).where(DomainEvent.kind == EventKind.ETA_CHANGED)
            )
        )


def _day(days: int) -> str:
    return (utcnow() + dt.timedelta(days=days)).date().isoformat()


async def test_a_sku_with_open_purchase_orders_is_answered_per_line(
    client: httpx.AsyncClient, asked: Asked, committed_db: Database
) -> None:
    page = await client.get(asked.path)
    assert "Purchase order <strong>PO-1</strong>: 5 units to deliver; no date yet." in page.text
    assert "<strong>PO-2</strong>" in page.text
    with committed_db.read_session() as session:
        items = dict(
            session.execute(
                select(Product.sku, SupplierRequestItem.id).join(SupplierRequestItem.product)
            ).all()
        )
    # KETTLE is answered per line only; TEAPOT, without purchase orders, per SKU as before.
    assert SKU_FIELD.findall(page.text) == [str(items["TEAPOT"])]
    assert "<script" not in page.text


async def test_dates_per_line_set_each_line_and_tell_the_customers_once_of_the_earliest(
    client: httpx.AsyncClient, asked: Asked, committed_db: Database
) -> None:
    csrf, lines = await _form(client, asked)
    data = {
        "csrf": csrf,
        f"answer_po_{lines['PO-1']}": "changed",
        f"eta_po_{lines['PO-1']}": _day(30),
        f"answer_po_{lines['PO-2']}": "changed",
        f"eta_po_{lines['PO-2']}": _day(20),
    }
    posted = await client.post(asked.path, data=data)
    assert posted.status_code == 303, posted.text

    earliest = dt.date.fromisoformat(_day(20))
    assert _line_dates(committed_db) == {"PO-1": dt.date.fromisoformat(_day(30)), "PO-2": earliest}
    with committed_db.read_session() as session:
        change = session.scalars(select(EtaChange).where(EtaChange.source == "supplier")).one()
        assert (change.new_eta, change.reason) == (earliest, "supplier")
        assert change.purchase_order_line_id == int(lines["PO-2"])  # the line now in force
        assert session.scalar(select(Product.eta).where(Product.sku == "KETTLE")) == earliest
        item = session.scalars(
            select(SupplierRequestItem)
            .join(SupplierRequestItem.product)
            .where(Product.sku == "KETTLE")
        ).one()
        assert (item.answer, item.answered_eta) == (SupplierAnswer.CHANGED, earliest)
    assert len(_told(committed_db)) == 2  # one per waiting customer, not one per line
    shown = await client.get(posted.headers["location"])
    assert "your dates are saved" in shown.text
    assert shown.text.count("(you answered:") == 3  # the SKU's date, and each line's


async def test_unknown_on_one_line_leaves_the_other_lines_date_in_force(
    client: httpx.AsyncClient, asked: Asked, committed_db: Database
) -> None:
    csrf, lines = await _form(client, asked)
    data = {
        "csrf": csrf,
        f"answer_po_{lines['PO-1']}": "unknown",
        f"answer_po_{lines['PO-2']}": "changed",
        f"eta_po_{lines['PO-2']}": _day(12),
    }
    assert (await client.post(asked.path, data=data)).status_code == 303
    assert _line_dates(committed_db) == {"PO-1": None, "PO-2": dt.date.fromisoformat(_day(12))}

    # Then neither line has a date: the SKU has none, and the item says "unknown".
    csrf, lines = await _form(client, asked)
    data = {"csrf": csrf, f"answer_po_{lines['PO-2']}": "unknown"}
    assert (await client.post(asked.path, data=data)).status_code == 303
    with committed_db.read_session() as session:
        assert session.scalar(select(Product.eta).where(Product.sku == "KETTLE")) is None
        answers = session.scalars(select(SupplierLineAnswer)).all()
        assert sorted(a.answer for a in answers) == [SupplierAnswer.UNKNOWN] * 2  # replaced
        item = session.scalars(
            select(SupplierRequestItem)
            .join(SupplierRequestItem.product)
            .where(Product.sku == "KETTLE")
        ).one()
        assert item.answer is SupplierAnswer.UNKNOWN


async def test_confirming_a_lines_date_again_tells_nobody_twice(
    client: httpx.AsyncClient, asked: Asked, committed_db: Database
) -> None:
    csrf, lines = await _form(client, asked)
    data = {
        "csrf": csrf,
        f"answer_po_{lines['PO-1']}": "changed",
        f"eta_po_{lines['PO-1']}": _day(15),
    }
    assert (await client.post(asked.path, data=data)).status_code == 303
    told = len(_told(committed_db))
    csrf, lines = await _form(client, asked)
    page = await client.get(asked.path)
    assert f'name="answer_po_{lines["PO-1"]}" value="confirmed"' in page.text
    confirm = {"csrf": csrf, f"answer_po_{lines['PO-1']}": "confirmed"}
    assert (await client.post(asked.path, data=confirm)).status_code == 303
    assert len(_told(committed_db)) == told
    assert _line_dates(committed_db)["PO-1"] == dt.date.fromisoformat(_day(15))


async def test_a_past_date_on_one_line_saves_no_line(
    client: httpx.AsyncClient, asked: Asked, committed_db: Database
) -> None:
    csrf, lines = await _form(client, asked)
    before = _state(committed_db)
    data = {
        "csrf": csrf,
        f"answer_po_{lines['PO-1']}": "changed",
        f"eta_po_{lines['PO-1']}": _day(10),
        f"answer_po_{lines['PO-2']}": "changed",
        f"eta_po_{lines['PO-2']}": _day(-3),
    }
    refused = await client.post(asked.path, data=data)
    assert refused.status_code == 422
    assert "Nothing was saved" in refused.text
    assert "KETTLE (PO-2)" in refused.text
    assert f'value="{_day(10)}"' in refused.text  # what was typed is kept
    assert _state(committed_db) == before


async def test_a_sku_answer_and_line_answers_for_the_same_sku_save_nothing(
    client: httpx.AsyncClient, asked: Asked, committed_db: Database
) -> None:
    csrf, lines = await _form(client, asked)
    with committed_db.read_session() as session:
        kettle = session.scalars(
            select(SupplierRequestItem.id)
            .join(SupplierRequestItem.product)
            .where(Product.sku == "KETTLE")
        ).one()
    before = _state(committed_db)
    data = {
        "csrf": csrf,
        f"answer_{kettle}": "changed",
        f"eta_{kettle}": _day(9),
        f"answer_po_{lines['PO-1']}": "changed",
        f"eta_po_{lines['PO-1']}": _day(10),
    }
    refused = await client.post(asked.path, data=data)
    assert refused.status_code == 422
    assert "not both" in refused.text
    assert _state(committed_db) == before


async def test_another_suppliers_purchase_order_line_cannot_be_answered(
    client: httpx.AsyncClient, asked: Asked, committed_db: Database, settings: Settings
) -> None:
    with committed_db.session() as session:
        f.product(session, "KETTLE-B", stock=0, supplier="Other Supply")
        record_purchase_order(
            session,
            reference="PO-OTHER",
            supplier="Other Supply",
            lines=[PurchaseLineData("KETTLE-B", 3, None)],
            policy=settings.policy(),
            now=utcnow(),
        )
        other = session.scalars(
            select(PurchaseOrderLine.id)
            .join(PurchaseOrder)
            .where(PurchaseOrder.reference == "PO-OTHER")
        ).one()
    csrf, _lines = await _form(client, asked)
    before = _state(committed_db)
    data = {"csrf": csrf, f"answer_po_{other}": "changed", f"eta_po_{other}": _day(10)}
    refused = await client.post(asked.path, data=data)
    assert refused.status_code == 422  # a forged line is not in this request: no answer given
    assert _state(committed_db) == before


async def test_line_answers_without_the_csrf_token_are_refused_and_change_nothing(
    client: httpx.AsyncClient, asked: Asked, committed_db: Database
) -> None:
    _csrf, lines = await _form(client, asked)
    before = _state(committed_db)
    for csrf in ("", "x" * 32):
        data = {
            "csrf": csrf,
            f"answer_po_{lines['PO-1']}": "changed",
            f"eta_po_{lines['PO-1']}": _day(10),
        }
        refused = await client.post(asked.path, data=data)
        assert refused.status_code == 403
        assert refused.headers["cache-control"] == "no-store"
    assert _state(committed_db) == before
