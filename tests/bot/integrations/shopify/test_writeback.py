"""Write-back jobs: each choice reaches Shopify once, through retries, throttling and refusals."""

from __future__ import annotations

import datetime as dt
import itertools
import logging

import pytest
from sqlalchemy import select

from bot.integrations.shopify.admin_client import AdminClient
from bot.integrations.shopify.ingest import Delivery, ShopifyIngest
from bot.integrations.shopify.topics import Config
from bot.integrations.shopify.writeback import WriteBack, retry_delay
from store import shopify_jobs
from store.db import Database
from store.models import Offer, OfferChoice, OfferStatus, OrderLine, Product, utcnow
from store.offers import accept_offer, expire_offers
from store.policy import Policy
from store.tables_shopify import ShopifyJob, ShopifyJobKind, ShopifyJobStatus
from tests import factories as f
from tests.bot.integrations.shopify import harness as h
from tests.bot.integrations.shopify.conftest import Sleeps
from tests.bot.integrations.shopify.fake_admin import FakeAdmin

SHOPIFY_ID = 820982911946154508
_webhooks = itertools.count(1)


def place(
    db: Database, fake: FakeAdmin, lines: list[tuple[str, int]], shopify_id: int = SHOPIFY_ID
) -> None:
    """A Shopify order, as its ``orders/create`` webhook places it here and as Shopify holds it."""
    ingest = ShopifyIngest(db, Config(Policy()))
    payload = h.order(lines, shopify_id=shopify_id, name=f"#{shopify_id % 10000}")
    delivery = Delivery(f"wh-{next(_webhooks)}", "orders/create", h.SHOP, payload)
    assert ingest.handle(delivery).reason is None
    fake.shop.add_order(shopify_id, lines)


def stock(db: Database, **units: int) -> None:
    with db.session() as session:
        for sku, count in units.items():
            f.product(session, sku, stock=count, eta=dt.date(2026, 12, 20))


def choose(db: Database, choice: OfferChoice, sku: str = "TEA") -> None:
    with db.session() as session:
        offer = session.scalars(
            select(Offer)
            .join(OrderLine, OrderLine.id == Offer.line_id)
            .join(Product, Product.id == OrderLine.product_id)
            .where(Product.sku == sku, Offer.status == OfferStatus.OPEN)
        ).one()
        outcome = accept_offer(session, offer.id, choice, via="sms", now=utcnow(), policy=Policy())
        assert outcome.accepted


def jobs(db: Database) -> list[ShopifyJob]:
    with db.read_session() as session:
        return list(session.scalars(select(ShopifyJob).order_by(ShopifyJob.id)))


def make_due(db: Database) -> None:
    """Time passes: every pending job is due now (the backoff is tested on its own)."""
    with db.session() as session:
        for job in session.scalars(select(ShopifyJob)):
            job.next_attempt_at = utcnow() - dt.timedelta(seconds=1)


def coupon(db: Database) -> str:
    with db.read_session() as session:
        code = session.scalars(
            select(OrderLine.coupon_code).where(OrderLine.coupon_code.is_not(None))
        ).one()
    assert code is not None
    return code


def test_waiting_creates_a_single_use_discount_for_that_customer(
    committed_db: Database, fake_admin: FakeAdmin, admin_client: AdminClient
) -> None:
    stock(committed_db, TEA=0)
    place(committed_db, fake_admin, [("TEA", 2)])
    choose(committed_db, OfferChoice.WAIT)
    assert {j.kind for j in jobs(committed_db)} == {
        ShopifyJobKind.DISCOUNT_CODE,
        ShopifyJobKind.ORDER_NOTE,
    }
    summary = WriteBack(committed_db, admin_client).run_due()
    assert (summary.done, summary.dead) == (2, 0)
    code = coupon(committed_db)
    created = fake_admin.shop.discounts[code]
    assert created["usageLimit"] == 1
    assert created["appliesOncePerCustomer"] is True
    assert created["context"] == {
        "customers": {"add": ["gid://shopify/Customer/115310627314723954"]}
    }
    assert created["customerGets"]["value"] == {"percentage": 0.1}
    with committed_db.read_session() as session:
        expires = session.scalars(select(Offer.expires_at)).one()
    assert dt.datetime.fromisoformat(created["endsAt"]) == expires
    order = fake_admin.shop.order(SHOPIFY_ID)
    assert order.tags == ["backorder-wait"]
    assert order.note is not None
    assert f"TEA x2 -> wait (code {code})" in order.note


def test_a_job_run_again_writes_nothing_twice(
    committed_db: Database, fake_admin: FakeAdmin, admin_client: AdminClient
) -> None:
    """A worker that died after Shopify applied the write (its lease ran out): the next run
    finds the code and the note already there."""
    stock(committed_db, TEA=0)
    place(committed_db, fake_admin, [("TEA", 1)])
    fake_admin.shop.order(SHOPIFY_ID).note = "Gift wrap, please"
    choose(committed_db, OfferChoice.WAIT)
    WriteBack(committed_db, admin_client).run_due()
    with committed_db.session() as session:
        for job in session.scalars(select(ShopifyJob)):
            job.status, job.next_attempt_at = ShopifyJobStatus.PENDING, utcnow()
    summary = WriteBack(committed_db, admin_client).run_due()
    assert summary.done == 2
    assert len(fake_admin.shop.discounts) == 1
    assert fake_admin.outcomes("discountCodeBasicCreate") == ["ok"]
    note = fake_admin.shop.order(SHOPIFY_ID).note or ""
    assert note.startswith("Gift wrap, please\nbackorder-bot: TEA")
    assert len(note.splitlines()) == 2
    assert fake_admin.shop.order(SHOPIFY_ID).tags == ["backorder-wait"]


def test_the_same_choice_again_enqueues_nothing_more(
    committed_db: Database, fake_admin: FakeAdmin
) -> None:
    stock(committed_db, TEA=0)
    place(committed_db, fake_admin, [("TEA", 1)])
    choose(committed_db, OfferChoice.WAIT)
    with committed_db.session() as session:
        offer = session.scalars(select(Offer)).one()
        accept_offer(session, offer.id, OfferChoice.WAIT, via="sms", now=utcnow(), policy=Policy())
    assert len(jobs(committed_db)) == 2


def test_an_order_not_from_shopify_gets_no_jobs(committed_db: Database) -> None:
    with committed_db.session() as session:
        f.product(session, "TEA", stock=0)
        f.order(session, "#5001", [("TEA", 1)], placed_at=utcnow())
    choose(committed_db, OfferChoice.WAIT)
    assert jobs(committed_db) == []


def test_a_switch_edits_the_order_in_one_committed_edit(
    committed_db: Database, fake_admin: FakeAdmin, admin_client: AdminClient
) -> None:
    stock(committed_db, TEA=0, POT=5)
    place(committed_db, fake_admin, [("TEA", 2)])
    fake_admin.shop.add_variant("POT")
    choose(committed_db, OfferChoice.SWITCH)
    summary = WriteBack(committed_db, admin_client).run_due()
    assert (summary.done, summary.dead) == (2, 0), summary.errors
    order = fake_admin.shop.order(SHOPIFY_ID)
    assert {(line.sku, line.quantity) for line in order.lines} == {("TEA", 0), ("POT", 2)}
    assert order.tags == ["backorder-switch"]
    assert fake_admin.outcomes("orderEditCommit") == ["ok"]


def test_cancelling_the_whole_order_cancels_it_in_shopify_with_the_refund(
    committed_db: Database, fake_admin: FakeAdmin, admin_client: AdminClient
) -> None:
    stock(committed_db, TEA=0)
    place(committed_db, fake_admin, [("TEA", 2)])
    choose(committed_db, OfferChoice.CANCEL)
    summary = WriteBack(committed_db, admin_client).run_due()
    assert (summary.done, summary.dead) == (2, 0), summary.errors
    cancelled = fake_admin.shop.order(SHOPIFY_ID).cancelled
    assert cancelled is not None
    assert cancelled["refundMethod"] == {"originalPaymentMethodsRefund": True}
    assert cancelled["reason"] == "CUSTOMER"
    assert cancelled["restock"] is True
    assert cancelled["notifyCustomer"] is False  # we told the customer already
    assert "refund promised: 200.00 USD" in cancelled["staffNote"]


def test_cancelling_one_line_of_several_edits_it_out(
    committed_db: Database, fake_admin: FakeAdmin, admin_client: AdminClient
) -> None:
    stock(committed_db, TEA=0, POT=5)
    place(committed_db, fake_admin, [("TEA", 1), ("POT", 1)])
    choose(committed_db, OfferChoice.CANCEL)
    summary = WriteBack(committed_db, admin_client).run_due()
    assert (summary.done, summary.dead) == (2, 0), summary.errors
    order = fake_admin.shop.order(SHOPIFY_ID)
    assert order.cancelled is None
    assert {(line.sku, line.quantity) for line in order.lines} == {("TEA", 0), ("POT", 1)}


def test_429_and_5xx_are_retried_with_backoff_then_succeed(
    committed_db: Database, fake_admin: FakeAdmin, admin_client: AdminClient
) -> None:
    stock(committed_db, TEA=0)
    place(committed_db, fake_admin, [("TEA", 1)])
    choose(committed_db, OfferChoice.WAIT)
    fake_admin.fail_next("codeDiscountNodeByCode", "http", status=429, retry_after="120")
    fake_admin.fail_next("codeDiscountNodeByCode", "http", status=503)
    before = utcnow()
    first = WriteBack(committed_db, admin_client).run_due()
    assert (first.done, first.retrying) == (1, 1)
    [job] = [j for j in jobs(committed_db) if j.kind == ShopifyJobKind.DISCOUNT_CODE]
    assert job.status == ShopifyJobStatus.PENDING
    assert job.last_error == "Shopify answered HTTP 429"
    assert job.next_attempt_at >= before + dt.timedelta(seconds=120)  # Retry-After honoured
    assert WriteBack(committed_db, admin_client).run_due().worked == 0  # not due yet
    make_due(committed_db)
    assert WriteBack(committed_db, admin_client).run_due().retrying == 1  # the 503
    make_due(committed_db)
    assert WriteBack(committed_db, admin_client).run_due().done == 1
    [job] = [j for j in jobs(committed_db) if j.kind == ShopifyJobKind.DISCOUNT_CODE]
    assert (job.status, job.attempts) == (ShopifyJobStatus.DONE, 3)
    assert coupon(committed_db) in fake_admin.shop.discounts


def test_user_errors_make_the_job_dead_with_the_reason(
    committed_db: Database, fake_admin: FakeAdmin, admin_client: AdminClient
) -> None:
    stock(committed_db, TEA=0)
    place(committed_db, fake_admin, [("TEA", 1)])
    choose(committed_db, OfferChoice.WAIT)
    fake_admin.fail_next("discountCodeBasicCreate", "user_errors", message="Ends at must be later")
    summary = WriteBack(committed_db, admin_client).run_due()
    assert summary.dead == 1
    [job] = [j for j in jobs(committed_db) if j.kind == ShopifyJobKind.DISCOUNT_CODE]
    assert job.status == ShopifyJobStatus.DEAD
    assert job.last_error == "discountCodeBasicCreate: input: Ends at must be later"
    assert fake_admin.shop.discounts == {}
    # An agent fixes the cause and revives it: it runs again and succeeds.
    with committed_db.session() as session:
        shopify_jobs.retry_job(session, job.id, utcnow())
    assert WriteBack(committed_db, admin_client).run_due().done == 1


def test_a_job_failing_every_time_dies_after_max_attempts(
    committed_db: Database, fake_admin: FakeAdmin, admin_client: AdminClient
) -> None:
    stock(committed_db, TEA=0)
    place(committed_db, fake_admin, [("TEA", 1)])
    choose(committed_db, OfferChoice.WAIT)
    fake_admin.fail_next("codeDiscountNodeByCode", "http", times=3, status=502)
    for _ in range(3):
        WriteBack(committed_db, admin_client, max_attempts=3).run_due()
        make_due(committed_db)
    [job] = [j for j in jobs(committed_db) if j.kind == ShopifyJobKind.DISCOUNT_CODE]
    assert job.status == ShopifyJobStatus.DEAD
    assert job.last_error == "gave up after 3 tries: Shopify answered HTTP 502"


def test_throttled_calls_wait_for_the_bucket_to_refill(
    committed_db: Database, fake_admin: FakeAdmin, admin_client: AdminClient, sleeps: Sleeps
) -> None:
    """The bucket is nearly empty: the client waits (cost - available) / restoreRate before a
    call, and a THROTTLED answer is waited out and sent again, not counted as a failure."""
    stock(committed_db, TEA=0)
    place(committed_db, fake_admin, [("TEA", 1)])
    choose(committed_db, OfferChoice.WAIT)
    fake_admin.fail_next("codeDiscountNodeByCode", "throttled")
    fake_admin.bucket.available, fake_admin.bucket.restore_rate = 12.0, 1000.0
    summary = WriteBack(committed_db, admin_client).run_due()
    assert (summary.done, summary.retrying, summary.dead) == (2, 0, 0)
    assert fake_admin.outcomes("codeDiscountNodeByCode") == ["throttled", "ok"]
    assert sleeps, "the client never waited for the bucket"


def test_the_client_waits_before_a_call_it_knows_the_bucket_cannot_pay(
    fake_admin: FakeAdmin, admin_client: AdminClient, sleeps: Sleeps
) -> None:
    fake_admin.shop.add_order(SHOPIFY_ID, [("TEA", 1)])
    query = 'mutation T($id: ID!) { tagsAdd(id: $id, tags: ["x"]) { userErrors { message } } }'
    variables = {"id": f"gid://shopify/Order/{SHOPIFY_ID}"}
    fake_admin.bucket.restore_rate = 2.0
    admin_client.execute("T", query, variables)  # learns: costs 10
    # As if Shopify had last reported 4 points left (the sleep here is recorded, not slept).
    assert admin_client.throttle is not None
    admin_client.throttle.available = 4.0
    admin_client.execute("T", query, variables)
    assert sleeps
    assert sleeps[-1] == pytest.approx(3.0, abs=0.1)
    assert fake_admin.outcomes("tagsAdd") == ["ok", "ok"]


def test_backoff_doubles_with_jitter_and_is_capped() -> None:
    assert retry_delay(1, lambda: 1.0) == 30.0
    assert retry_delay(2, lambda: 1.0) == 60.0
    assert retry_delay(3, lambda: 0.0) == 60.0
    assert retry_delay(20, lambda: 1.0) == 3600.0


def test_silence_applies_the_default_wait_and_owes_its_discount_too(
    committed_db: Database, fake_admin: FakeAdmin, admin_client: AdminClient
) -> None:
    stock(committed_db, TEA=0)
    place(committed_db, fake_admin, [("TEA", 1)])
    with committed_db.session() as session:
        later = utcnow() + Policy().offer_ttl + dt.timedelta(minutes=1)
        [expired] = expire_offers(session, later, Policy())
        assert expired.choice == OfferChoice.WAIT
    assert {j.kind for j in jobs(committed_db)} == {
        ShopifyJobKind.DISCOUNT_CODE,
        ShopifyJobKind.ORDER_NOTE,
    }
    assert WriteBack(committed_db, admin_client, clock=lambda: later).run_due().done == 2
    created = fake_admin.shop.discounts[coupon(committed_db)]
    # Not a code dead on arrival: valid for the offer's term again from when it was applied.
    assert dt.datetime.fromisoformat(created["endsAt"]) > later + dt.timedelta(days=6)


def test_a_claimed_job_is_not_claimed_again_until_its_lease_runs_out(
    committed_db: Database, fake_admin: FakeAdmin
) -> None:
    stock(committed_db, TEA=0)
    place(committed_db, fake_admin, [("TEA", 1)])
    choose(committed_db, OfferChoice.WAIT)
    now, lease = utcnow(), dt.timedelta(minutes=5)
    with committed_db.session() as session:
        first = shopify_jobs.claim_due(session, now, lease, 10)
    with committed_db.session() as session:
        assert shopify_jobs.claim_due(session, now, lease, 10) == []
    with committed_db.session() as session:
        again = shopify_jobs.claim_due(session, now + lease, lease, 10)
    assert sorted(again) == sorted(first)
    assert len(first) == 2


def test_a_revoked_token_kills_the_job_and_is_never_logged(
    committed_db: Database, fake_admin: FakeAdmin, caplog: pytest.LogCaptureFixture
) -> None:
    stock(committed_db, TEA=0)
    place(committed_db, fake_admin, [("TEA", 1)])
    choose(committed_db, OfferChoice.WAIT)
    revoked = "shpat_revoked0123456789"
    caplog.set_level(logging.DEBUG)
    with AdminClient(h.SHOP, revoked, "2026-07", base_url=fake_admin.base_url) as client:
        summary = WriteBack(committed_db, client).run_due()
    assert summary.dead == 2
    assert {j.last_error for j in jobs(committed_db)} == {
        "Shopify refused the access token (HTTP 401); check SHOPIFY_ADMIN_TOKEN"
    }
    assert "is dead" in caplog.text
    assert revoked not in caplog.text
