import datetime as dt

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from messaging.notifier import ShopVoice, notify_pending, remaining_lines
from store.db import Database
from store.eta import set_eta
from store.models import (
    Channel,
    DomainEvent,
    LineStatus,
    OfferChoice,
    OutboxMessage,
    OutboxStatus,
    ReachState,
)
from store.offers import accept_offer
from store.policy import DEFAULT_POLICY
from store.stock import receive_stock
from tests import factories as f
from tests.factories import NOW

VOICE = ShopVoice("Casa Test", "help@casa.test")


def _outbox(session: Session) -> list[OutboxMessage]:
    return list(session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))


def test_backorder_becomes_one_sms_in_the_customers_language(session: Session) -> None:
    f.product(session, "MUG", eta=dt.date(2026, 12, 1))
    who = f.customer(session, name="Lucía García", phone="+34612345678")
    who.locale = "es"
    f.order(session, "A1", [("MUG", 1)], who=who)
    result = notify_pending(session, VOICE, NOW)
    assert (result.events, result.queued) == (1, 1)
    [row] = _outbox(session)
    assert (row.channel, row.address, row.message, row.locale) == (
        Channel.SMS,
        "+34612345678",
        "backorder_notice",
        "es",
    )
    assert "A1" in row.body
    assert "ESPERAR" in row.body
    assert row.status == OutboxStatus.PENDING


def test_event_is_marked_handled_in_the_same_transaction(session: Session) -> None:
    f.product(session, "MUG")
    f.order(session, "A1", [("MUG", 1)])
    notify_pending(session, VOICE, NOW)
    assert session.scalars(select(DomainEvent.handled_at)).all() == [NOW]
    assert notify_pending(session, VOICE, NOW).events == 0
    assert len(_outbox(session)) == 1


def test_telegram_preferred_gets_html_with_buttons(session: Session) -> None:
    f.product(session, "MUG")
    who = f.customer(session)
    who.preferred_channel = Channel.TELEGRAM
    who.telegram_chat_id = 5_000_000_001
    f.order(session, "A1", [("MUG", 1)], who=who)
    notify_pending(session, VOICE, NOW)
    [row] = _outbox(session)
    assert (row.channel, row.address) == (Channel.TELEGRAM, "5000000001")
    assert row.buttons is not None
    assert all(data.startswith("offer:") for _, data in row.buttons)


def test_opted_out_preferred_channel_falls_back_to_the_other(session: Session) -> None:
    f.product(session, "MUG")
    who = f.customer(session)
    who.sms_state = ReachState.OPTED_OUT
    who.telegram_chat_id = 42
    f.order(session, "A1", [("MUG", 1)], who=who)
    notify_pending(session, VOICE, NOW)
    assert [r.channel for r in _outbox(session)] == [Channel.TELEGRAM]


def test_customer_no_channel_reaches_gets_nothing_and_the_event_is_handled(
    session: Session,
) -> None:
    f.product(session, "MUG")
    who = f.customer(session)
    who.sms_state = ReachState.INVALID
    f.order(session, "A1", [("MUG", 1)], who=who)
    result = notify_pending(session, VOICE, NOW)
    assert (result.queued, result.unreachable) == (0, 1)
    assert _outbox(session) == []


def test_eta_change_tells_each_waiting_customer_once(session: Session) -> None:
    f.product(session, "MUG", eta=dt.date(2026, 12, 1))
    for n in ("A1", "A2", "A3"):
        f.order(session, n, [("MUG", 1)])
    notify_pending(session, VOICE, NOW)
    # Earlier than promised: news, not a delay (a later date is a delay notice, tested below).
    set_eta(session, "MUG", dt.date(2026, 11, 20), source="agent", policy=DEFAULT_POLICY, now=NOW)
    set_eta(session, "MUG", dt.date(2026, 11, 20), source="agent", policy=DEFAULT_POLICY, now=NOW)
    notify_pending(session, VOICE, NOW)
    eta_rows = [r for r in _outbox(session) if r.message == "eta_changed"]
    assert len(eta_rows) == 3
    assert len({r.customer_id for r in eta_rows}) == 3


def test_wait_confirmation_carries_the_coupon_and_is_urgent(session: Session) -> None:
    f.product(session, "MUG")
    line = f.order(session, "A1", [("MUG", 1)]).lines[0]
    outcome = accept_offer(
        session, line.offers[0].id, OfferChoice.WAIT, via="web", now=NOW, policy=DEFAULT_POLICY
    )
    notify_pending(session, VOICE, NOW)
    confirmation = next(r for r in _outbox(session) if r.message == "wait_confirmed")
    assert outcome.coupon_code is not None
    assert outcome.coupon_code in confirmation.body
    assert confirmation.urgent


def test_a_choice_made_on_telegram_is_confirmed_on_telegram(session: Session) -> None:
    f.product(session, "MUG")
    who = f.customer(session)  # prefers SMS
    who.telegram_chat_id = 5_000_000_123
    line = f.order(session, "A1", [("MUG", 1)], who=who).lines[0]
    accept_offer(
        session, line.offers[0].id, OfferChoice.WAIT, via="telegram", now=NOW, policy=DEFAULT_POLICY
    )
    notify_pending(session, VOICE, NOW)
    notice = next(r for r in _outbox(session) if r.message == "backorder_notice")
    confirmation = next(r for r in _outbox(session) if r.message == "wait_confirmed")
    assert notice.channel == Channel.SMS
    assert (confirmation.channel, confirmation.address) == (Channel.TELEGRAM, "5000000123")


def test_a_choice_made_on_a_channel_that_no_longer_reaches_is_confirmed_on_the_other(
    session: Session,
) -> None:
    f.product(session, "MUG")
    who = f.customer(session)
    who.telegram_chat_id = 5_000_000_124
    who.telegram_state = ReachState.UNREACHABLE
    line = f.order(session, "A1", [("MUG", 1)], who=who).lines[0]
    accept_offer(
        session, line.offers[0].id, OfferChoice.WAIT, via="telegram", now=NOW, policy=DEFAULT_POLICY
    )
    notify_pending(session, VOICE, NOW)
    confirmation = next(r for r in _outbox(session) if r.message == "wait_confirmed")
    assert confirmation.channel == Channel.SMS


def test_partial_allocation_sends_nothing_and_ready_to_ship_does(session: Session) -> None:
    f.product(session, "MUG")
    f.order(session, "A1", [("MUG", 2)])
    notify_pending(session, VOICE, NOW)
    receive_stock(session, "MUG", 1, now=NOW)
    assert notify_pending(session, VOICE, NOW).silent == 1
    receive_stock(session, "MUG", 1, now=NOW)
    notify_pending(session, VOICE, NOW)
    assert [r.message for r in _outbox(session)] == ["backorder_notice", "ready_to_ship"]


def test_cancelling_one_late_item_is_offered_and_confirmed_as_that_item_with_its_refund(
    session: Session,
) -> None:
    """Issue 12 item 2: not "order A1 is cancelled, full refund" when other lines stay."""
    f.product(session, "MUG", price_cents=1_250)
    f.product(session, "TEA", stock=5, price_cents=800)
    line = f.order(session, "A1", [("MUG", 2), ("TEA", 1)]).lines[0]
    notify_pending(session, VOICE, NOW)
    (notice,) = [r for r in _outbox(session) if r.message == "backorder_notice"]
    assert "3/CANCEL ITEM" in notice.body
    assert "CANCEL ORDER" not in notice.body
    accept_offer(
        session, line.offers[0].id, OfferChoice.CANCEL, via="sms", now=NOW, policy=DEFAULT_POLICY
    )
    notify_pending(session, VOICE, NOW)
    (confirmation,) = [r for r in _outbox(session) if r.message == "cancel_confirmed"]
    assert "2 x Product MUG is cancelled from order A1" in confirmation.body
    assert "rest of the order is unchanged" in confirmation.body
    assert "$25.00" in confirmation.body


def test_cancelling_the_only_item_is_offered_and_confirmed_as_the_order(session: Session) -> None:
    f.product(session, "MUG", price_cents=1_250)
    line = f.order(session, "A1", [("MUG", 1)]).lines[0]
    notify_pending(session, VOICE, NOW)
    assert "3/CANCEL ORDER" in _outbox(session)[0].body
    accept_offer(
        session, line.offers[0].id, OfferChoice.CANCEL, via="sms", now=NOW, policy=DEFAULT_POLICY
    )
    notify_pending(session, VOICE, NOW)
    (confirmation,) = [r for r in _outbox(session) if r.message == "cancel_confirmed"]
    assert "order A1 is cancelled" in confirmation.body
    assert "$12.50" in confirmation.body


def test_delay_notices_tell_what_silence_does_first_then_renewed(session: Session) -> None:
    # End to end through the store: the first notice's silence waits, the renewed one cancels.
    from store.delays import check_delays

    promised = (NOW + dt.timedelta(days=40)).date()
    f.product(session, "MUG", eta=promised)
    f.order(session, "A1", [("MUG", 1)])
    notify_pending(session, VOICE, NOW)
    day_30 = NOW + dt.timedelta(days=30)
    check_delays(session, day_30, DEFAULT_POLICY)
    notify_pending(session, VOICE, day_30)
    first = _outbox(session)[-1]
    assert first.message == "delay_notice"
    assert "If you don't reply, you agree to wait until then" in first.body
    later = promised + dt.timedelta(days=10)
    set_eta(session, "MUG", later, source="agent", policy=DEFAULT_POLICY, now=day_30)
    notify_pending(session, VOICE, day_30)
    renewed = _outbox(session)[-1]
    assert "is delayed again" in renewed.body
    assert "or we cancel it and refund $100.00" in renewed.body
    assert "keep your order" not in renewed.body


def test_a_date_past_the_promised_one_is_an_option_notice_at_once(session: Session) -> None:
    """16 CFR 435.2(b): once the shop knows it cannot ship in time, the customer gets the option
    notice (cancel, or consent to the new date), not a plain "new date" message 30 days later."""
    f.product(session, "MUG", eta=dt.date(2026, 12, 1))
    f.order(session, "A1", [("MUG", 1)])
    notify_pending(session, VOICE, NOW)
    set_eta(session, "MUG", dt.date(2026, 12, 20), source="agent", policy=DEFAULT_POLICY, now=NOW)
    notify_pending(session, VOICE, NOW)
    (notice,) = [r for r in _outbox(session) if r.message in ("eta_changed", "delay_notice")]
    assert notice.message == "delay_notice"
    assert "If you don't reply, you agree to wait until then" in notice.body


def test_a_partly_shipped_line_is_offered_the_refund_of_its_unshipped_units(
    session: Session,
) -> None:
    """The offer quotes what cancelling refunds (store.refunds): never the units already shipped."""
    from store.shipments import ship

    f.product(session, "MUG", stock=1, price_cents=1_000, eta=dt.date(2026, 12, 1))
    f.order(session, "A1", [("MUG", 3)])
    ship(session, "A1", sku="MUG", quantity=1, now=NOW)
    notify_pending(session, VOICE, NOW)
    set_eta(session, "MUG", dt.date(2026, 12, 20), source="agent", policy=DEFAULT_POLICY, now=NOW)
    notify_pending(session, VOICE, NOW)
    notice = next(r for r in _outbox(session) if r.message == "delay_notice")
    assert "$20.00" in notice.body
    assert "$30.00" not in notice.body


def test_remaining_lines_counts_what_the_session_has_not_flushed(session: Session) -> None:
    # remaining_lines reads through Core (no autoflush): a line cancelled just before, still
    # only in the session, must not count, or "cancel" would be offered as cancelling the item
    # only when it cancels the whole order.
    f.product(session, "MUG")
    f.product(session, "CUP")
    placed = f.order(session, "A1", [("MUG", 1), ("CUP", 1)])
    cup = next(line for line in placed.lines if line.product.sku == "CUP")
    cup.status = LineStatus.CANCELLED
    assert remaining_lines(session, {placed.id}) == {placed.id: 1}


def test_two_notifiers_take_different_events_without_waiting(
    on_postgres: Database, committed_db: Database
) -> None:
    # The batch's events are locked in the subquery that picks them (FOR UPDATE SKIP LOCKED):
    # a second notifier skips what the first holds instead of taking it again or waiting.
    with committed_db.session() as setup:
        f.product(setup, "MUG")
        f.order(setup, "A1", [("MUG", 1)])
        f.order(setup, "A2", [("MUG", 1)])
    with committed_db.session() as first, committed_db.session() as second:
        assert notify_pending(first, VOICE, NOW, limit=1).events == 1
        second.execute(text("SET LOCAL lock_timeout = '2s'"))
        assert notify_pending(second, VOICE, NOW, limit=1).events == 1
        taken = [s.scalars(select(OutboxMessage.event_id)).one() for s in (first, second)]
    assert taken[0] != taken[1]
