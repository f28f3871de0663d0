"""Delivery reports on a real database: forward only, held until the id is known, and the
error codes that say a number cannot take SMS. Through the webhook: test_twilio_status.py."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from messaging.delivery_reports import (
    HOLD_FOR,
    ReportResult,
    apply_held_reports,
    apply_report,
)
from store.models import (
    Channel,
    Customer,
    HeldStatusReport,
    OutboxMessage,
    OutboxStatus,
    ReachState,
)
from tests import factories as f

NOW = dt.datetime(2026, 11, 25, 12, 0, tzinfo=dt.UTC)
SID = "SM" + "a" * 32


def outbox_row(
    session: Session,
    provider_id: str | None = SID,
    *,
    channel: Channel = Channel.SMS,
    status: OutboxStatus = OutboxStatus.SENT,
) -> OutboxMessage:
    customer = f.customer(session)
    row = OutboxMessage(
        dedupe_key=f"test:{provider_id}:{channel}",
        customer_id=customer.id,
        channel=channel,
        address=customer.phone or "",
        message="backordered",
        locale="en",
        body="Your order is on backorder.",
        status=status,
        attempts=1,
        provider_id=provider_id,
    )
    session.add(row)
    session.flush()
    return row


def held(session: Session) -> list[tuple[str, OutboxStatus, str | None]]:
    return [
        (h.provider_id, h.status, h.error)
        for h in session.scalars(select(HeldStatusReport).execution_options(populate_existing=True))
    ]


def test_a_report_moves_its_row_forward_never_back(session: Session) -> None:
    row = outbox_row(session)
    assert apply_report(session, SID, OutboxStatus.DELIVERED, NOW) == ReportResult.APPLIED
    assert apply_report(session, SID, OutboxStatus.SENT, NOW) == ReportResult.UNCHANGED
    assert (row.status, row.finished_at) == (OutboxStatus.DELIVERED, NOW)


def test_a_report_for_an_id_no_row_carries_yet_is_held_with_its_furthest_state(
    session: Session,
) -> None:
    assert apply_report(session, SID, OutboxStatus.SENT, NOW) == ReportResult.HELD
    assert apply_report(session, SID, OutboxStatus.UNDELIVERED, NOW, "30003") == ReportResult.HELD
    assert apply_report(session, SID, OutboxStatus.SENT, NOW) == ReportResult.HELD  # late
    assert held(session) == [(SID, OutboxStatus.UNDELIVERED, "30003")]


def test_a_held_report_is_applied_once_the_id_appears(session: Session) -> None:
    row = outbox_row(session, provider_id=None, status=OutboxStatus.SENDING)
    apply_report(session, SID, OutboxStatus.DELIVERED, NOW)
    assert apply_held_reports(session, NOW) == (0, 0)  # the id is not written down yet
    row.status, row.provider_id = OutboxStatus.SENT, SID  # the dispatcher's outcome
    session.flush()
    assert apply_held_reports(session, NOW + dt.timedelta(seconds=30)) == (1, 0)
    assert row.status == OutboxStatus.DELIVERED
    assert held(session) == []


def test_a_held_report_never_moves_a_row_back(session: Session) -> None:
    row = outbox_row(session, provider_id=None, status=OutboxStatus.SENDING)
    apply_report(session, SID, OutboxStatus.SENT, NOW)
    row.status, row.provider_id = OutboxStatus.DELIVERED, SID
    session.flush()
    assert apply_held_reports(session, NOW) == (1, 0)
    assert row.status == OutboxStatus.DELIVERED
    assert held(session) == []


def test_a_report_that_never_matches_is_forgotten_after_a_day(session: Session) -> None:
    apply_report(session, SID, OutboxStatus.DELIVERED, NOW)
    assert apply_held_reports(session, NOW + HOLD_FOR - dt.timedelta(minutes=1)) == (0, 0)
    assert apply_held_reports(session, NOW + HOLD_FOR + dt.timedelta(minutes=1)) == (0, 1)
    assert held(session) == []


@pytest.mark.parametrize(
    ("status", "code", "state"),
    [
        (OutboxStatus.UNDELIVERED, "30006", ReachState.INVALID),  # a landline
        (OutboxStatus.UNDELIVERED, "30005", ReachState.INVALID),  # no such number
        (OutboxStatus.FAILED, "21610", ReachState.OPTED_OUT),  # unsubscribed
        (OutboxStatus.UNDELIVERED, "30007", ReachState.ACTIVE),  # carrier filtering: no
        (OutboxStatus.UNDELIVERED, "30003", ReachState.ACTIVE),  # phone off: no
        (OutboxStatus.UNDELIVERED, None, ReachState.ACTIVE),
        (OutboxStatus.DELIVERED, "30006", ReachState.ACTIVE),  # delivered after all
    ],
)
def test_error_codes_that_say_the_number_cannot_take_sms_change_the_customer(
    session: Session, status: OutboxStatus, code: str | None, state: ReachState
) -> None:
    row = outbox_row(session)
    apply_report(session, SID, status, NOW, code)
    customer = session.get(Customer, row.customer_id, populate_existing=True)
    assert customer is not None
    assert customer.sms_state == state
    if state != ReachState.ACTIVE:
        assert customer.sms_state_changed_at == NOW


def test_a_lesser_reason_never_overwrites_an_opt_out(session: Session) -> None:
    row = outbox_row(session)
    customer = session.get(Customer, row.customer_id)
    assert customer is not None
    customer.sms_state = ReachState.OPTED_OUT
    session.flush()
    apply_report(session, SID, OutboxStatus.UNDELIVERED, NOW, "30006")
    session.refresh(customer)
    assert customer.sms_state == ReachState.OPTED_OUT


def test_an_error_code_held_with_its_report_changes_the_customer_when_applied(
    session: Session,
) -> None:
    row = outbox_row(session, provider_id=None, status=OutboxStatus.SENDING)
    apply_report(session, SID, OutboxStatus.UNDELIVERED, NOW, "30006")
    row.status, row.provider_id = OutboxStatus.SENT, SID
    session.flush()
    apply_held_reports(session, NOW)
    customer = session.get(Customer, row.customer_id, populate_existing=True)
    assert customer is not None
    assert customer.sms_state == ReachState.INVALID
