"""Delay notices follow 16 CFR 435.2(b): what each kind says, and what silence does when the
expiry sweep applies its default (issue 12, item 6). The README's table points here."""

import datetime as dt

from sqlalchemy import select
from sqlalchemy.orm import Session

from store.delays import check_delays
from store.eta import set_eta
from store.models import DomainEvent, EventKind, LineStatus, OfferChoice, OfferStatus, OrderLine
from store.offers import accept_offer, expire_offers
from store.policy import DEFAULT_POLICY
from tests import factories as f
from tests.factories import NOW

DAY = dt.timedelta(days=1)
WEEK = DEFAULT_POLICY.offer_ttl


def _last_notice(session: Session) -> DomainEvent:
    return session.scalars(
        select(DomainEvent)
        .where(DomainEvent.kind == EventKind.DELAY_NOTICE)
        .order_by(DomainEvent.id.desc())
    ).first()  # type: ignore[return-value]


def _expire(session: Session, line: OrderLine, at: dt.datetime) -> DomainEvent:
    expire_offers(session, at, DEFAULT_POLICY)
    return session.scalars(
        select(DomainEvent).where(
            DomainEvent.kind == EventKind.OFFER_EXPIRED, DomainEvent.line_id == line.id
        )
    ).one()


def _waiting_line(session: Session, eta: dt.date | None) -> OrderLine:
    f.product(session, "MUG", eta=eta)
    return f.order(session, "A", [("MUG", 1)]).lines[0]


def test_first_notice_within_30_days_silence_is_consent_to_wait(session: Session) -> None:
    promised = (NOW + 40 * DAY).date()
    line = _waiting_line(session, promised)
    day_30 = NOW + 30 * DAY
    check_delays(session, day_30, DEFAULT_POLICY)
    notice = _last_notice(session)
    assert notice.payload["notice"] == "first"
    assert notice.payload["eta"] == promised.isoformat()
    assert line.offers[-1].default_choice == OfferChoice.WAIT
    expired = _expire(session, line, day_30 + WEEK)
    assert expired.payload["choice"] == "wait"
    assert line.status == LineStatus.BACKORDERED
    assert line.coupon_code is not None


def test_first_notice_more_than_30_days_late_silence_cancels(session: Session) -> None:
    promised = (NOW + 20 * DAY).date()
    line = _waiting_line(session, promised)
    later = promised + 45 * DAY  # more than 30 days after the date first promised
    set_eta(session, "MUG", later, source="agent", policy=DEFAULT_POLICY, now=NOW + 15 * DAY)
    check_delays(session, NOW + 30 * DAY, DEFAULT_POLICY)
    notice = _last_notice(session)
    assert (notice.payload["notice"], notice.payload["eta"]) == ("first_late", later.isoformat())
    assert notice.payload["silence"] == "cancel"
    expired = _expire(session, line, NOW + 30 * DAY + WEEK)
    assert expired.payload["choice"] == "cancel"
    assert line.status == LineStatus.CANCELLED


def test_a_passed_date_is_never_quoted_the_shop_cannot_tell(session: Session) -> None:
    promised = (NOW + 10 * DAY).date()
    line = _waiting_line(session, promised)
    check_delays(session, NOW + 11 * DAY, DEFAULT_POLICY)  # the promised day is over
    notice = _last_notice(session)
    assert notice.payload["eta"] is None
    assert notice.payload["notice"] == "first_unknown"
    assert line.eta is None  # what the customer was told now: no date
    assert line.offers[-1].default_choice == OfferChoice.CANCEL
    _expire(session, line, NOW + 11 * DAY + WEEK)
    assert line.status == LineStatus.CANCELLED


def test_renewed_notice_silence_cancels_the_late_line(session: Session) -> None:
    promised = (NOW + 40 * DAY).date()
    line = _waiting_line(session, promised)
    day_30 = NOW + 30 * DAY
    check_delays(session, day_30, DEFAULT_POLICY)
    again = promised + 10 * DAY
    set_eta(session, "MUG", again, source="agent", policy=DEFAULT_POLICY, now=day_30 + DAY)
    notice = _last_notice(session)
    assert (notice.payload["notice"], notice.payload["eta"]) == ("renewed", again.isoformat())
    assert notice.payload["notices"] == 2
    first, renewed = line.offers[-2], line.offers[-1]
    assert first.status == OfferStatus.SUPERSEDED
    assert renewed.default_choice == OfferChoice.CANCEL
    expired = _expire(session, line, day_30 + DAY + WEEK)
    assert expired.payload["choice"] == "cancel"
    assert line.status == LineStatus.CANCELLED


def test_renewed_notice_answered_wait_keeps_the_line(session: Session) -> None:
    promised = (NOW + 40 * DAY).date()
    line = _waiting_line(session, promised)
    day_30 = NOW + 30 * DAY
    check_delays(session, day_30, DEFAULT_POLICY)
    set_eta(session, "MUG", promised + 10 * DAY, source="x", policy=DEFAULT_POLICY, now=day_30)
    offer = line.offers[-1]
    accept_offer(
        session, offer.id, OfferChoice.WAIT, via="sms", now=day_30 + DAY, policy=DEFAULT_POLICY
    )
    assert expire_offers(session, day_30 + 2 * WEEK, DEFAULT_POLICY) == []
    assert line.status == LineStatus.BACKORDERED


def test_the_date_passing_after_a_notice_sends_a_renewed_notice_without_a_date(
    session: Session,
) -> None:
    promised = (NOW + 40 * DAY).date()
    line = _waiting_line(session, promised)
    check_delays(session, NOW + 30 * DAY, DEFAULT_POLICY)
    after = dt.datetime.combine(promised + DAY, dt.time(12), dt.UTC)
    assert check_delays(session, after, DEFAULT_POLICY) == [line]
    notice = _last_notice(session)
    assert (notice.payload["notice"], notice.payload["eta"]) == ("renewed", None)
    assert line.offers[-1].default_choice == OfferChoice.CANCEL
