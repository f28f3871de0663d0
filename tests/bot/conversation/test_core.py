"""The conversation core against a real (rolled-back) database: one behaviour per test."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.conversation import Action, Conversation, Incoming, Reply, Sender
from messaging.notifier import ShopVoice, notify_pending
from store.models import (
    Channel,
    Customer,
    DomainEvent,
    EventKind,
    LineStatus,
    Offer,
    OfferStatus,
    Order,
    OutboxMessage,
    ReachState,
)
from store.offers import make_offer
from store.policy import DEFAULT_POLICY
from tests import factories as f
from tests.factories import NOW

LATER = NOW + dt.timedelta(hours=1)
ETA = dt.date(2026, 12, 15)
SHOP = "Casa Verde"
SUPPORT = "+1 415 555 0134"
SMS = Channel.SMS
TELEGRAM = Channel.TELEGRAM


def conversation(session: Session, now: dt.datetime = LATER) -> Conversation:
    return Conversation(
        session, shop_name=SHOP, support_contact=SUPPORT, policy=DEFAULT_POLICY, now=now
    )


def say(
    session: Session,
    who: Customer | None,
    text: str,
    *,
    channel: Channel = SMS,
    now: dt.datetime = LATER,
    private: bool = True,
    provider_handled_opt_out: bool = False,
    opt_out_type: str | None = None,
) -> Reply:
    sender = Sender(who.id if who is not None else None, chat_is_private=private)
    incoming = Incoming(
        text, provider_handled_opt_out=provider_handled_opt_out, opt_out_type=opt_out_type
    )
    return conversation(session, now).handle(channel, sender, incoming)


def press(session: Session, who: Customer | None, data: str, *, private: bool = True) -> Reply:
    sender = Sender(who.id if who is not None else None, chat_is_private=private)
    return conversation(session).handle(TELEGRAM, sender, Incoming.button(data))


def backordered(
    session: Session,
    number: str = "A1001",
    *,
    who: Customer | None = None,
    sku: str = "MUG",
    alternative: bool = True,
) -> Order:
    """An order for ``who`` whose only line waits for ``sku``, with an open offer."""
    alternatives: tuple[str, ...] = ()
    if alternative:
        f.product(session, f"{sku}-ALT", stock=10, category=f"{sku}-cat")
        alternatives = (f"{sku}-ALT",)
    f.product(session, sku, eta=ETA, category=f"{sku}-cat", alternatives=alternatives)
    return f.order(session, number, [(sku, 1)], who=who or f.customer(session))


def offer_of(order: Order) -> Offer:
    return order.lines[0].offers[-1]


def spanish(session: Session) -> Customer:
    who = f.customer(session, "María José")
    who.locale = "es"
    return who


# --- status ------------------------------------------------------------------------------------


def test_status_with_one_open_order_shows_what_is_late_and_the_date(session: Session) -> None:
    who = f.customer(session)
    backordered(session, who=who)
    reply = say(session, who, "where is my order?")
    assert reply.message == "status_reply"
    assert "order A1001" in (reply.text or "")
    assert "Product MUG" in (reply.text or "")
    assert "on backorder, due Dec 15, 2026" in (reply.text or "")
    assert reply.actions == (Action.STATUS_SHOWN,)


def test_status_with_one_open_order_lists_the_choices_still_open(session: Session) -> None:
    who = f.customer(session)
    backordered(session, who=who)
    assert "1/WAIT, 2/SWITCH, 3/CANCEL ORDER" in (say(session, who, "STATUS").text or "")


def test_telegram_status_with_an_open_choice_has_its_buttons(session: Session) -> None:
    who = f.customer(session)
    offer = offer_of(backordered(session, who=who))
    reply = say(session, who, "/status", channel=TELEGRAM)
    assert [b.data for b in reply.buttons] == [
        f"offer:{offer.id}:wait",
        f"offer:{offer.id}:switch",
        f"offer:{offer.id}:cancel",
    ]


def test_status_with_several_open_orders_lists_them_briefly(session: Session) -> None:
    who = f.customer(session)
    backordered(session, "A1001", who=who, sku="MUG")
    backordered(session, "A1002", who=who, sku="TENT")
    text = say(session, who, "STATUS").text or ""
    assert "A1001: 1 of 1 item on backorder" in text
    assert "A1002: 1 of 1 item on backorder" in text
    assert "Product MUG" not in text


def test_status_with_no_open_orders_says_so(session: Session) -> None:
    who = f.customer(session)
    assert "we found no open orders for you" in (say(session, who, "STATUS").text or "")


def test_status_with_an_order_number_shows_that_order(session: Session) -> None:
    who = f.customer(session)
    backordered(session, "A1001", who=who, sku="MUG")
    backordered(session, "A1002", who=who, sku="TENT")
    text = say(session, who, "status a1002").text or ""
    assert "order A1002" in text
    assert "Product TENT" in text
    assert "A1001" not in text


def test_status_for_someone_elses_order_looks_like_a_missing_one(session: Session) -> None:
    who = f.customer(session)
    backordered(session, "B2002", who=f.customer(session, "Someone Else"), sku="SECRET")
    theirs = say(session, who, "STATUS B2002")
    missing = say(session, who, "STATUS B2003")
    assert theirs.text == (missing.text or "").replace("B2003", "B2002")
    assert theirs.message == missing.message == "order_not_found"
    assert theirs.actions == missing.actions == (Action.ORDER_MISS,)
    assert "SECRET" not in (theirs.text or "")


def test_unknown_sender_gets_no_order_data(session: Session) -> None:
    backordered(session, "A1001", sku="SECRET")
    for text in ("STATUS", "STATUS A1001", "where is my order", "1"):
        reply = say(session, None, text)
        assert reply.message == "not_linked"
        assert "A1001" not in (reply.text or "")
        assert "SECRET" not in (reply.text or "")


def test_group_chat_gets_no_order_data(session: Session) -> None:
    who = f.customer(session)
    backordered(session, "A1001", who=who, sku="SECRET")
    reply = say(session, who, "/status A1001", channel=TELEGRAM, private=False)
    assert reply.message == "not_linked"
    assert "private chat" in (reply.text or "")
    assert "A1001" not in (reply.text or "")
    assert "SECRET" not in (reply.text or "")


def test_group_chat_cannot_choose_for_an_offer(session: Session) -> None:
    who = f.customer(session)
    offer = offer_of(backordered(session, who=who))
    reply = press(session, who, f"offer:{offer.id}:cancel", private=False)
    assert reply.message == "not_linked"
    assert offer.status == OfferStatus.OPEN


def test_status_is_answered_in_the_customers_language(session: Session) -> None:
    who = spanish(session)
    backordered(session, who=who)
    text = say(session, who, "where is my order").text or ""
    assert "pedido A1001" in text
    assert "con retraso" in text


def test_unknown_sender_is_answered_in_the_language_they_wrote(session: Session) -> None:
    assert "no tenemos pedidos" in (say(session, None, "¿dónde está mi pedido?").text or "")


# --- offer replies -----------------------------------------------------------------------------


def test_wait_reply_confirms_with_the_coupon(session: Session) -> None:
    who = f.customer(session)
    offer = offer_of(backordered(session, who=who))
    reply = say(session, who, "1")
    assert reply.message == "wait_confirmed"
    assert offer.coupon_code is not None
    assert offer.coupon_code in (reply.text or "")
    assert reply.actions == (Action.OFFER_ACCEPTED,)


def test_switch_reply_confirms_the_new_product_and_the_order_holds_it(session: Session) -> None:
    who = f.customer(session)
    order = backordered(session, who=who)
    reply = say(session, who, "SWITCH")
    assert reply.message == "switch_confirmed"
    assert "now has Product MUG-ALT instead of Product MUG" in (reply.text or "")
    assert [(line.product.sku, line.status) for line in order.lines] == [
        ("MUG", LineStatus.SWITCHED),
        ("MUG-ALT", LineStatus.ALLOCATED),
    ]


def test_cancel_order_reply_cancels_the_waiting_line(session: Session) -> None:
    who = f.customer(session)
    order = backordered(session, who=who)
    reply = say(session, who, "3")
    assert reply.message == "cancel_confirmed"
    assert order.lines[0].status == LineStatus.CANCELLED


def test_cancelling_one_late_item_says_so_and_the_refund_in_money(session: Session) -> None:
    """Issue 12 item 2: the confirmation never says the order is cancelled when it is not."""
    who = f.customer(session)
    f.product(session, "MUG", stock=0, price_cents=1_250)
    f.product(session, "TEA", stock=5, price_cents=800)
    order = f.order(session, "A2", [("MUG", 2), ("TEA", 1)], who=who)
    assert "3/CANCEL ITEM" in (say(session, who, "STATUS").text or "")
    reply = say(session, who, "3/CANCEL ITEM")
    assert reply.message == "cancel_confirmed"
    assert [line.status for line in order.lines] == [LineStatus.CANCELLED, LineStatus.ALLOCATED]


def test_spanish_reply_confirms_in_spanish(session: Session) -> None:
    who = spanish(session)
    backordered(session, who=who)
    assert "Tu clave de 10% de descuento" in (say(session, who, "esperar").text or "")


def test_bare_cancel_opts_out_and_never_cancels_the_order(session: Session) -> None:
    who = f.customer(session)
    order = backordered(session, who=who)
    reply = say(session, who, "CANCEL")
    assert reply.message == "opted_out"
    assert who.sms_state == ReachState.OPTED_OUT
    assert order.lines[0].status == LineStatus.BACKORDERED
    assert offer_of(order).status == OfferStatus.OPEN


def test_confirmation_is_the_one_the_outbox_sends_so_the_reply_is_marked_queued(
    session: Session,
) -> None:
    who = f.customer(session)
    backordered(session, who=who)
    notify_pending(session, ShopVoice(SHOP, SUPPORT), NOW)  # the backorder notice
    reply = say(session, who, "1")
    notify_pending(session, ShopVoice(SHOP, SUPPORT), LATER)
    queued = session.scalars(
        select(OutboxMessage).where(OutboxMessage.message == "wait_confirmed")
    ).one()
    assert reply.also_queued
    assert queued.body == reply.text


def test_status_and_refusals_are_not_marked_queued(session: Session) -> None:
    who = f.customer(session)
    backordered(session, who=who)
    assert not say(session, who, "STATUS").also_queued
    assert not say(session, None, "1").also_queued


def test_reply_with_several_open_offers_asks_which_and_changes_nothing(session: Session) -> None:
    who = f.customer(session)
    first = backordered(session, "A1001", who=who, sku="MUG")
    second = backordered(session, "A1002", who=who, sku="TENT")
    reply = say(session, who, "1")
    assert reply.message == "offer_which"
    assert "A1001: Product MUG" in (reply.text or "")
    assert "A1002: Product TENT" in (reply.text or "")
    assert "e.g. 1 A1001" in (reply.text or "")
    assert reply.actions == (Action.OFFER_AMBIGUOUS,)
    assert offer_of(first).status == offer_of(second).status == OfferStatus.OPEN


def test_telegram_which_offer_has_buttons_for_each(session: Session) -> None:
    who = f.customer(session)
    first = offer_of(backordered(session, "A1001", who=who, sku="MUG"))
    second = offer_of(backordered(session, "A1002", who=who, sku="TENT"))
    reply = say(session, who, "wait", channel=TELEGRAM)
    assert {b.data for b in reply.buttons} >= {
        f"offer:{first.id}:wait",
        f"offer:{second.id}:cancel",
    }


def test_reply_naming_an_order_applies_to_that_orders_offer(session: Session) -> None:
    who = f.customer(session)
    first = backordered(session, "A1001", who=who, sku="MUG")
    second = backordered(session, "A1002", who=who, sku="TENT")
    reply = say(session, who, "3 a1002")
    assert reply.message == "cancel_confirmed"
    assert second.lines[0].status == LineStatus.CANCELLED
    assert first.lines[0].status == LineStatus.BACKORDERED


def test_reply_naming_someone_elses_order_looks_like_a_missing_one(session: Session) -> None:
    who = f.customer(session)
    backordered(session, "A1001", who=who, sku="MUG")
    other = backordered(session, "B2002", who=f.customer(session, "Someone Else"), sku="TENT")
    theirs = say(session, who, "3 B2002")
    missing = say(session, who, "3 B2003")
    assert theirs.text == (missing.text or "").replace("B2003", "B2002")
    assert theirs.actions == (Action.ORDER_MISS,)
    assert other.lines[0].status == LineStatus.BACKORDERED


def test_order_with_several_open_offers_still_asks_which(session: Session) -> None:
    who = f.customer(session)
    f.product(session, "MUG", eta=ETA)
    f.product(session, "TENT", eta=ETA)
    order = f.order(session, "A1001", [("MUG", 1), ("TENT", 1)], who=who)
    reply = say(session, who, "1 A1001")
    assert reply.message == "offer_which"
    assert "order A1001 has a choice open for 2 items" in (reply.text or "")
    assert SUPPORT in (reply.text or "")
    assert all(line.offers[-1].status == OfferStatus.OPEN for line in order.lines)


def test_reply_with_no_open_offer_says_so(session: Session) -> None:
    who = f.customer(session)
    reply = say(session, who, "2")
    assert reply.message == "no_open_offer"
    assert reply.actions == (Action.NO_OPEN_OFFER,)


def test_reply_after_the_deadline_says_the_default_was_applied(session: Session) -> None:
    who = f.customer(session)
    offer = offer_of(backordered(session, who=who))
    reply = say(session, who, "2", now=offer.expires_at + dt.timedelta(minutes=1))
    assert reply.message == "offer_expired"
    assert "we didn't hear back" in (reply.text or "")
    assert reply.actions == (Action.OFFER_EXPIRED,)
    assert reply.also_queued  # accept_offer recorded the offer_expired event just now
    assert offer.status == OfferStatus.EXPIRED


def test_reply_to_an_offer_expired_earlier_says_the_time_is_over(session: Session) -> None:
    who = f.customer(session)
    offer = offer_of(backordered(session, who=who))
    late = offer.expires_at + dt.timedelta(minutes=1)
    say(session, who, "2", now=late)
    reply = say(session, who, "2", now=late + dt.timedelta(minutes=5))
    assert reply.message == "offer_refused"
    assert "the time to choose for Product MUG (order A1001) is over" in (reply.text or "")
    assert not reply.also_queued


def test_button_for_a_superseded_offer_says_it_is_no_longer_open(session: Session) -> None:
    who = f.customer(session)
    order = backordered(session, who=who)
    old = offer_of(order)
    make_offer(session, order.lines[0], DEFAULT_POLICY, LATER)
    reply = press(session, who, f"offer:{old.id}:wait")
    assert reply.message == "offer_refused"
    assert "no longer open" in (reply.text or "")
    assert old.status == OfferStatus.SUPERSEDED


def test_changing_a_decided_choice_is_refused(session: Session) -> None:
    who = f.customer(session)
    order = backordered(session, who=who)
    say(session, who, "1")
    reply = say(session, who, "3")
    assert reply.message == "offer_refused"
    assert "you already chose to wait for Product MUG" in (reply.text or "")
    assert order.lines[0].status == LineStatus.BACKORDERED


def test_repeated_choice_confirms_again_without_queueing_a_second_message(
    session: Session,
) -> None:
    who = f.customer(session)
    offer = offer_of(backordered(session, who=who))
    first = say(session, who, "1")
    again = say(session, who, "WAIT")
    assert again.actions == (Action.OFFER_REPEATED,)
    assert again.text == first.text
    assert str(offer.coupon_code) in (again.text or "")
    assert not again.also_queued
    accepted = session.scalars(
        select(DomainEvent).where(DomainEvent.kind == EventKind.OFFER_ACCEPTED)
    ).all()
    assert len(accepted) == 1


def test_switch_without_an_alternative_is_refused_and_the_offer_stays_open(
    session: Session,
) -> None:
    who = f.customer(session)
    offer = offer_of(backordered(session, who=who, alternative=False))
    reply = say(session, who, "2", channel=TELEGRAM)
    assert reply.message == "offer_refused"
    assert "nothing to switch" in (reply.text or "")
    assert [b.data for b in reply.buttons] == [f"offer:{offer.id}:wait", f"offer:{offer.id}:cancel"]
    assert offer.status == OfferStatus.OPEN


def test_telegram_button_applies_the_choice_to_its_offer(session: Session) -> None:
    who = f.customer(session)
    first = offer_of(backordered(session, "A1001", who=who, sku="MUG"))
    second = offer_of(backordered(session, "A1002", who=who, sku="TENT"))
    reply = press(session, who, f"offer:{second.id}:wait")
    assert reply.message == "wait_confirmed"
    assert (first.status, second.status) == (OfferStatus.OPEN, OfferStatus.ACCEPTED)
    assert second.decided_via == "telegram"


def test_telegram_button_for_someone_elses_offer_is_treated_as_unknown(session: Session) -> None:
    who = f.customer(session)
    theirs = offer_of(backordered(session, who=f.customer(session, "Someone Else")))
    reply = press(session, who, f"offer:{theirs.id}:cancel")
    missing = press(session, who, "offer:999999:cancel")
    assert reply.message == missing.message == "no_open_offer"
    assert reply.text == missing.text
    assert theirs.status == OfferStatus.OPEN


def test_malformed_button_gets_the_unknown_command_reply(session: Session) -> None:
    who = f.customer(session)
    assert press(session, who, "offer:abc:wait").message == "unknown_command"


# --- opt-out, opt-in, help, unknown ------------------------------------------------------------


def test_stop_opts_out_of_sms_only(session: Session) -> None:
    who = f.customer(session)
    reply = say(session, who, "Stop.")
    assert reply.message == "opted_out"
    assert reply.actions == (Action.OPTED_OUT,)
    assert (who.sms_state, who.telegram_state) == (ReachState.OPTED_OUT, ReachState.ACTIVE)
    assert who.sms_state_changed_at == LATER


def test_telegram_stop_opts_out_of_telegram_only(session: Session) -> None:
    who = f.customer(session)
    reply = say(session, who, "/stop", channel=TELEGRAM)
    assert reply.message == "opted_out"
    assert (who.sms_state, who.telegram_state) == (ReachState.ACTIVE, ReachState.OPTED_OUT)


def test_start_opts_back_in(session: Session) -> None:
    who = f.customer(session)
    say(session, who, "STOP")
    reply = say(session, who, "unstop")
    assert reply.message == "opted_in"
    assert reply.actions == (Action.OPTED_IN,)
    assert who.sms_state == ReachState.ACTIVE
    assert who.sms_consent_at == LATER


def test_provider_handled_opt_out_is_recorded_without_a_reply(session: Session) -> None:
    who = f.customer(session)
    reply = say(session, who, "STOP", provider_handled_opt_out=True)
    assert reply.text is None
    assert reply.message is None
    assert reply.actions == (Action.OPTED_OUT,)
    assert who.sms_state == ReachState.OPTED_OUT


def test_provider_opt_out_type_decides_a_keyword_we_do_not_know(session: Session) -> None:
    # With Twilio Advanced Opt-Out a shop may add words such as "BAJA"; Twilio says which kind.
    who = f.customer(session)
    reply = say(session, who, "BAJA", opt_out_type="STOP")
    assert (reply.text, reply.actions) == (None, (Action.OPTED_OUT,))
    assert who.sms_state == ReachState.OPTED_OUT


def test_provider_handled_opt_in_is_recorded_without_a_reply(session: Session) -> None:
    who = f.customer(session)
    say(session, who, "STOP", provider_handled_opt_out=True)
    reply = say(session, who, "START", opt_out_type="START")
    assert reply.text is None
    assert who.sms_state == ReachState.ACTIVE


def test_stop_from_an_unknown_number_is_still_confirmed(session: Session) -> None:
    reply = say(session, None, "STOP")
    assert reply.message == "opted_out"
    assert reply.actions == (Action.UNKNOWN_SENDER,)


def test_telegram_start_from_an_unlinked_chat_explains_how_to_link(session: Session) -> None:
    reply = say(session, None, "/start", channel=TELEGRAM)
    assert reply.message == "not_linked"
    assert "order confirmation" in (reply.text or "")


def test_opt_out_in_a_group_chat_changes_nothing(session: Session) -> None:
    who = f.customer(session)
    reply = say(session, who, "/stop", channel=TELEGRAM, private=False)
    assert reply.message == "not_linked"
    assert who.telegram_state == ReachState.ACTIVE


def test_help_names_the_shop_support_contact_and_rates(session: Session) -> None:
    text = say(session, f.customer(session), "HELP").text or ""
    assert text.startswith(f"{SHOP}: ")
    assert SUPPORT in text
    assert "STOP" in text
    assert "Msg & data rates may apply" in text


def test_provider_handled_help_gets_no_second_answer(session: Session) -> None:
    reply = say(session, f.customer(session), "HELP", opt_out_type="HELP")
    assert reply.text is None


def test_unknown_text_gets_the_unknown_command_reply(session: Session) -> None:
    reply = say(session, f.customer(session), "stop sending me the wrong size")
    assert reply.message == "unknown_command"
    assert reply.actions == ()


@pytest.mark.parametrize("text", ["", "x" * 10_000, "🙂🙂🙂", "مرحبا، أين طلبي"])
def test_odd_input_gets_the_unknown_command_reply(session: Session, text: str) -> None:
    assert say(session, f.customer(session), text).message == "unknown_command"


def test_unknown_customer_id_is_treated_as_an_unknown_sender(session: Session) -> None:
    reply = conversation(session).handle(SMS, Sender(987_654_321), Incoming("STATUS"))
    assert reply.message == "not_linked"
