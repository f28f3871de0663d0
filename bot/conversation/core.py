"""One customer message in, one answer out: who is asking, what they ask, what the shop's data says.

Channel-agnostic and free of I/O but the database session it is given; the webhooks and the
Telegram handlers (see issue 4) turn provider payloads into a :class:`Sender` and an
:class:`Incoming`, call :meth:`Conversation.handle`, send :attr:`Reply.text`, log
:attr:`Reply.actions`, and commit. Nothing here commits.

Identity and privacy:

- the caller resolves the sender: an SMS sender is the customer with that E.164 phone number
  (``store.customers.normalize_phone`` then ``find_by_phone``), a Telegram chat is a customer only
  once linked; ``customer_id=None`` otherwise. Linking happens here: ``/start <token>`` redeems a
  link token, and a shared contact links only when its ``user_id`` is the sender's own;
- a Telegram group chat is anonymous whoever writes in it: no order data, no choices, no opt-out
  state changes, only help and a pointer to a private chat;
- order look-ups are scoped to the sender in the query itself, so an order number that is someone
  else's and one that does not exist get the very same answer (``order_not_found``); a Telegram
  button naming someone else's offer is answered like one naming no offer (``no_open_offer``).
  Each such miss is reported as :attr:`Action.ORDER_MISS` / :attr:`Action.NO_OPEN_OFFER` /
  :attr:`Action.LINK_FAILED`; the caller counts them (``bot.inbound``) and says, through
  :meth:`Sender.blocked`, when a sender is past the limit: then every look-up by order number,
  offer or token gets the same ``too_many_attempts`` answer, whether or not it would have hit.
  Nothing here keeps state between messages.

Double messages: accepting an offer (and expiring one) records a domain event that the notifier
turns into the same confirmation in the outbox. Such replies carry ``also_queued=True``: the
caller should answer with an empty TwiML response / a bare ``answerCallbackQuery`` and let the
outbox deliver, or the customer hears it twice. A repeated choice records no event, so its
confirmation comes only from the reply.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.conversation import rows
from bot.conversation.exchange import MISSES, Action, Incoming, Reply, Sender, SharedContact
from bot.conversation.intents import Intent, IntentKind, parse, parse_callback
from bot.conversation.lookups import OFFER_LOADS, OPEN_ORDERS, OWN_ORDER, customer_offers
from bot.conversation.rows import CustomerRow
from bot.order_views import offer_context, offer_view, order_view
from messaging.notifier import CONFIRMATIONS, OrderLinks, render_with_link
from messaging.render import DEFAULT_LOCALE
from store.customers import find_by_phone, normalize_phone
from store.errors import InvalidInput
from store.models import (
    Channel,
    Customer,
    Offer,
    OfferChoice,
    OfferStatus,
    Order,
    ReachState,
)
from store.offers import Refusal, accept_offer
from store.order_links import tokens_for_orders
from store.policy import Policy
from store.telegram_links import link_chat, redeem_link_token

__all__ = [
    "MISSES",
    "Action",
    "Conversation",
    "Incoming",
    "Reply",
    "Sender",
    "SharedContact",
    "is_common",
]

# A reply that names no offer, with none open, still means the offer the customer just
# answered: a resent "1" gets its confirmation again, a "2" after "1" hears it was decided.
RECENT_DECISION = dt.timedelta(days=2)

# Twilio's OptOutType field, when present, says which kind of keyword Twilio matched (with
# Advanced Opt-Out that may be a custom word such as "BAJA" that our parser does not know).
_PROVIDER_KEYWORDS = {
    "STOP": IntentKind.OPT_OUT,
    "START": IntentKind.OPT_IN,
    "HELP": IntentKind.HELP,
}


@dataclass(frozen=True, slots=True)
class _Turn:
    channel: Channel
    intent: Intent
    incoming: Incoming
    customer: Customer | None
    private: bool
    locale: str
    sender: Sender


class Conversation:
    """Handles customer messages against one database session, at one moment ``now``."""

    def __init__(
        self,
        session: Session,
        *,
        shop_name: str,
        support_contact: str,
        policy: Policy,
        now: dt.datetime,
        default_locale: str = DEFAULT_LOCALE,
        phone_region: str | None = None,
        order_links: OrderLinks | None = None,
    ) -> None:
        self.session = session
        self.shop_name = shop_name
        self.support_contact = support_contact
        self.policy = policy
        self.now = now
        self.default_locale = default_locale
        self.phone_region = phone_region
        self.order_links = order_links
        self._rows = False  # set while handle_common answers from Core rows

    def handle(self, channel: Channel | str, sender: Sender, incoming: Incoming) -> Reply:
        """Answer one message; any change (offer, opt-out) is left in the session uncommitted."""
        kind = Channel(channel)
        intent = _intent(incoming)
        private = kind is Channel.SMS or sender.chat_is_private
        customer = None
        if private and sender.customer_id is not None:
            customer = self.session.get(Customer, sender.customer_id)
        locale = customer.locale if customer else intent.language or self.default_locale
        turn = _Turn(kind, intent, incoming, customer, private, locale, sender)
        return _HANDLERS[intent.kind](self, turn)

    def handle_common(
        self, channel: Channel | str, sender: Sender, incoming: Incoming, customer: CustomerRow
    ) -> Reply | None:
        """The lean path: a status question or help from a known customer in a private chat,
        answered from Core rows (``bot.conversation.rows``); None for any other message, which
        ``handle`` must answer. Same handlers, so the same answers."""
        kind = Channel(channel)
        intent = _intent(incoming)
        if intent.kind not in _COMMON or not (kind is Channel.SMS or sender.chat_is_private):
            return None
        # Shaped like a Customer for what these handlers read: id, name, locale, timezone.
        turn = _Turn(
            kind, intent, incoming, cast(Customer, customer), True, customer.locale, sender
        )
        self._rows = True
        try:
            return _HANDLERS[intent.kind](self, turn)
        finally:
            self._rows = False

    # --- handlers, one per intent ------------------------------------------------------------

    def _status(self, turn: _Turn) -> Reply:
        customer = turn.customer
        if customer is None:
            return self._not_linked(turn)
        if turn.intent.order_number is not None:
            if turn.sender.blocked():
                return self._rate_limited(turn)
            order = self._own_order(customer, turn.intent.order_number)
            if order is None:
                return self._order_not_found(turn, turn.intent.order_number)
            orders = [order]
        else:
            orders = self._open_orders(customer)
        views = [order_view(order, self.now) for order in orders]
        # One order: its page is one tap away. Several: each has its own, in the news about it.
        link = orders[0].id if len(orders) == 1 else None
        return self._say(turn, "status_reply", (Action.STATUS_SHOWN,), order_id=link, orders=views)

    def _offer_reply(self, turn: _Turn) -> Reply:
        customer, intent = turn.customer, turn.intent
        if customer is None:
            return self._not_linked(turn)
        assert intent.choice is not None
        if turn.sender.blocked() and (
            intent.offer_id is not None or intent.order_number is not None
        ):
            return self._rate_limited(turn)
        if intent.offer_id is not None:
            offer = self._own_offer(customer, intent.offer_id)
            if offer is None:
                return self._say(turn, "no_open_offer", (Action.NO_OPEN_OFFER,))
            return self._apply(turn, offer, intent.choice)
        order: Order | None = None
        if intent.order_number is not None:
            order = self._own_order(customer, intent.order_number)
            if order is None:
                return self._order_not_found(turn, intent.order_number)
        offers = self._open_offers(customer, order)
        if len(offers) > 1:
            return self._say(
                turn,
                "offer_which",
                (Action.OFFER_AMBIGUOUS,),
                offers=[offer_view(o) for o in offers],
                order_number=order.number if order is not None else None,
            )
        if not offers:
            offers = self._recently_decided(customer, order)
        if len(offers) != 1:
            return self._say(turn, "no_open_offer", (Action.NO_OPEN_OFFER,))
        return self._apply(turn, offers[0], intent.choice)

    def _opt_out(self, turn: _Turn) -> Reply:
        if not turn.private:
            return self._not_linked(turn)
        actions = (Action.UNKNOWN_SENDER,)
        if turn.customer is not None:
            _set_reach(turn.customer, turn.channel, ReachState.OPTED_OUT, self.now)
            actions = (Action.OPTED_OUT,)
        if turn.incoming.provider_answered:
            return _silent(turn, actions)
        # Even a number we don't know hears it worked: carriers expect every STOP confirmed.
        return self._say(turn, "opted_out", actions)

    def _opt_in(self, turn: _Turn) -> Reply:
        if not turn.private:
            return self._not_linked(turn)
        if turn.channel is Channel.TELEGRAM and turn.intent.payload is not None:
            return self._link_by_token(turn, turn.intent.payload)
        if turn.customer is None:
            if turn.incoming.provider_answered:
                return _silent(turn, (Action.UNKNOWN_SENDER,))
            if turn.channel is Channel.TELEGRAM:
                # "/start" from a chat not linked yet: tell them how to link it.
                return self._not_linked(turn)
            return self._say(turn, "opted_in", (Action.UNKNOWN_SENDER,))
        _set_reach(turn.customer, turn.channel, ReachState.ACTIVE, self.now)
        if turn.incoming.provider_answered:
            return _silent(turn, (Action.OPTED_IN,))
        return self._say(turn, "opted_in", (Action.OPTED_IN,))

    def _link_by_token(self, turn: _Turn, token: str) -> Reply:
        if turn.sender.blocked():
            return self._rate_limited(turn)
        chat_id = turn.sender.chat_id
        customer = None
        if chat_id is not None:
            customer = redeem_link_token(
                self.session, token, chat_id, turn.sender.user_id, self.now
            )
        if customer is None:
            return self._say(turn, "link_failed", (Action.LINK_FAILED,))
        return self._linked(turn, customer)

    def _shared_contact(self, turn: _Turn) -> Reply:
        contact, chat_id = turn.incoming.contact, turn.sender.chat_id
        if not turn.private or chat_id is None:
            return self._not_linked(turn)
        # Anyone can share anyone's contact card; only the sender's own proves the number.
        if contact is None or contact.user_id is None or contact.user_id != turn.sender.user_id:
            return self._say(turn, "link_failed", (Action.LINK_FAILED,))
        customer = self._customer_by_phone(contact.phone)
        if customer is None:
            return self._say(turn, "link_failed", (Action.LINK_FAILED,))
        link_chat(self.session, customer, chat_id, turn.sender.user_id, self.now)
        return self._linked(turn, customer)

    def _linked(self, turn: _Turn, customer: Customer) -> Reply:
        turn = _Turn(
            turn.channel, turn.intent, turn.incoming, customer, True, customer.locale, turn.sender
        )
        return self._say(turn, "linked", (Action.LINKED,))

    def _help(self, turn: _Turn) -> Reply:
        if turn.incoming.provider_answered:
            return _silent(turn, ())
        return self._say(turn, "help", ())

    def _unknown(self, turn: _Turn) -> Reply:
        return self._say(turn, "unknown_command", ())

    def _attachment(self, turn: _Turn) -> Reply:
        """A sticker, voice note, file or location: say what the bot can read instead."""
        return self._say(turn, "attachment_unsupported", (), kind=turn.incoming.attachment)

    # --- answers shared by several handlers ----------------------------------------------------

    def _not_linked(self, turn: _Turn) -> Reply:
        return self._say(turn, "not_linked", (Action.UNKNOWN_SENDER,), group_chat=not turn.private)

    def _rate_limited(self, turn: _Turn) -> Reply:
        return self._say(turn, "too_many_attempts", (Action.RATE_LIMITED,))

    def _order_not_found(self, turn: _Turn, number: str) -> Reply:
        return self._say(turn, "order_not_found", (Action.ORDER_MISS,), number=number)

    def _apply(self, turn: _Turn, offer: Offer, choice: OfferChoice) -> Reply:
        was_open = offer.status == OfferStatus.OPEN
        outcome = accept_offer(
            self.session, offer.id, choice, via=turn.channel.value, now=self.now, policy=self.policy
        )
        context = offer_context(offer)
        if outcome.accepted:
            action = Action.OFFER_REPEATED if outcome.repeated else Action.OFFER_ACCEPTED
            return self._say(
                turn,
                CONFIRMATIONS[choice.value],
                (action,),
                also_queued=not outcome.repeated,
                **context,
            )
        if outcome.refusal == Refusal.EXPIRED and was_open:
            # Too late by a moment: accept_offer applied the default just now, and its
            # offer_expired notice is queued; say the same thing here.
            return self._say(
                turn, "offer_expired", (Action.OFFER_EXPIRED,), also_queued=True, **context
            )
        assert outcome.refusal is not None
        return self._say(
            turn, "offer_refused", (Action.OFFER_REFUSED,), refusal=outcome.refusal.value, **context
        )

    def _say(
        self,
        turn: _Turn,
        message: str,
        actions: tuple[Action, ...],
        *,
        also_queued: bool = False,
        order_id: int | None = None,
        **context: Any,
    ) -> Reply:
        customer = turn.customer
        context.update(
            shop_name=self.shop_name,
            support_contact=self.support_contact,
            customer=(
                {"name": customer.name, "timezone": customer.timezone}
                if customer is not None
                else {"name": ""}
            ),
        )
        rendered = render_with_link(
            message, turn.channel, turn.locale, context, self._order_url(order_id)
        )
        return Reply(
            intent=turn.intent,
            message=message,
            text=rendered.text,
            buttons=rendered.buttons,
            actions=actions,
            also_queued=also_queued,
        )

    # --- look-ups, always scoped to the sender ------------------------------------------------

    def _order_url(self, order_id: int | None) -> str | None:
        """The order's page (a link is made on first use, as for news about the order)."""
        if order_id is None or self.order_links is None:
            return None
        tokens = tokens_for_orders(self.session, {order_id}, self.order_links.token_key, self.now)
        token = tokens.get(order_id)
        return self.order_links.url(token) if token is not None else None

    def _customer_by_phone(self, raw: str) -> Customer | None:
        # Telegram sends contact numbers in international form, often without the "+".
        digits = raw.strip()
        candidates = [digits] if digits.startswith("+") else ["+" + digits, digits]
        for candidate in candidates:
            try:
                phone = normalize_phone(candidate, self.phone_region)
            except InvalidInput:
                continue
            return find_by_phone(self.session, phone)
        return None

    def _own_order(self, customer: Customer, number: str) -> Order | None:
        if self._rows:
            return rows.own_order(self.session.connection(), customer.id, number.upper())
        params = {"customer_id": customer.id, "number": number.upper()}
        return self.session.scalars(OWN_ORDER, params).unique().first()

    def _open_orders(self, customer: Customer) -> list[Order]:
        if self._rows:
            return rows.open_orders(self.session.connection(), customer.id)
        return list(self.session.scalars(OPEN_ORDERS, {"customer_id": customer.id}).unique())

    def _own_offer(self, customer: Customer, offer_id: int) -> Offer | None:
        return self.session.scalars(
            select(Offer)
            .where(Offer.id == offer_id, Offer.customer_id == customer.id)
            .options(*OFFER_LOADS)
        ).first()

    def _open_offers(self, customer: Customer, order: Order | None) -> list[Offer]:
        query = customer_offers(customer, order).where(Offer.status == OfferStatus.OPEN)
        return list(self.session.scalars(query))

    def _recently_decided(self, customer: Customer, order: Order | None) -> list[Offer]:
        query = customer_offers(customer, order).where(
            Offer.status.in_([OfferStatus.ACCEPTED, OfferStatus.EXPIRED]),
            Offer.decided_at >= self.now - RECENT_DECISION,
        )
        return list(self.session.scalars(query))


_HANDLERS: dict[IntentKind, Callable[[Conversation, _Turn], Reply]] = {
    IntentKind.STATUS: Conversation._status,
    IntentKind.ATTACHMENT: Conversation._attachment,
    IntentKind.OFFER_REPLY: Conversation._offer_reply,
    IntentKind.OPT_OUT: Conversation._opt_out,
    IntentKind.OPT_IN: Conversation._opt_in,
    IntentKind.HELP: Conversation._help,
    IntentKind.SHARED_CONTACT: Conversation._shared_contact,
    IntentKind.UNKNOWN: Conversation._unknown,
}

# What handle_common answers; each of these handlers reads only rows.py's columns.
_COMMON = frozenset({IntentKind.STATUS, IntentKind.HELP})


def is_common(incoming: Incoming) -> bool:
    """Whether ``handle_common`` may answer this message (asked before any look-up, so that
    the other messages cost no query the full path repeats)."""
    return _intent(incoming).kind in _COMMON


def _intent(incoming: Incoming) -> Intent:
    if incoming.contact is not None:
        return Intent(IntentKind.SHARED_CONTACT)
    if incoming.button_data is not None:
        return parse_callback(incoming.button_data)
    if incoming.attachment is not None and not incoming.text.strip():
        return Intent(IntentKind.ATTACHMENT)
    provider_kind = _PROVIDER_KEYWORDS.get((incoming.opt_out_type or "").strip().upper())
    if provider_kind is not None:
        return Intent(provider_kind, keyword=incoming.text.strip().upper()[:32] or None)
    return parse(incoming.text)


def _silent(turn: _Turn, actions: tuple[Action, ...]) -> Reply:
    return Reply(intent=turn.intent, message=None, text=None, actions=actions)


def _set_reach(customer: Customer, channel: Channel, state: ReachState, now: dt.datetime) -> None:
    """Record an opt-out or opt-in for ``channel`` only; the other channel keeps its state."""
    if channel is Channel.SMS:
        if customer.sms_state != state:
            customer.sms_state = state
            customer.sms_state_changed_at = now
        if state == ReachState.ACTIVE:
            customer.sms_consent_at = now
    else:
        if customer.telegram_state != state:
            customer.telegram_state = state
            customer.telegram_state_changed_at = now
        if state == ReachState.ACTIVE:
            customer.telegram_consent_at = now
