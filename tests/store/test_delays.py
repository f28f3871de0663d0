import datetime as dt

from sqlalchemy import select
from sqlalchemy.orm import Session

from store.delays import check_delays
from store.eta import set_eta
from store.models import DomainEvent, EventKind, OfferStatus
from store.policy import DEFAULT_POLICY
from tests import factories as f
from tests.factories import NOW

FAR = dt.date(2027, 3, 1)


def _notices(session: Session) -> list[DomainEvent]:
    return list(
        session.scalars(select(DomainEvent).where(DomainEvent.kind == EventKind.DELAY_NOTICE))
    )


def test_line_waiting_thirty_days_gets_a_notice_with_a_cancel_option(session: Session) -> None:
    f.product(session, "MUG", eta=FAR)
    line = f.order(session, "A", [("MUG", 1)]).lines[0]
    first_offer = line.offers[0]
    noticed = check_delays(session, NOW + dt.timedelta(days=30), DEFAULT_POLICY)
    assert [n.id for n in noticed] == [line.id]
    [notice] = _notices(session)
    assert notice.payload["eta"] == FAR.isoformat()
    assert first_offer.status == OfferStatus.SUPERSEDED
    assert notice.offer_id == line.offers[-1].id
    assert line.offers[-1].status == OfferStatus.OPEN


def test_line_waiting_twenty_nine_days_is_not_noticed(session: Session) -> None:
    f.product(session, "MUG", eta=FAR)
    f.order(session, "A", [("MUG", 1)])
    assert check_delays(session, NOW + dt.timedelta(days=29), DEFAULT_POLICY) == []


def test_the_same_slip_is_noticed_once(session: Session) -> None:
    f.product(session, "MUG", eta=FAR)
    f.order(session, "A", [("MUG", 1)])
    check_delays(session, NOW + dt.timedelta(days=30), DEFAULT_POLICY)
    check_delays(session, NOW + dt.timedelta(days=31), DEFAULT_POLICY)
    assert len(_notices(session)) == 1


def test_promised_date_passing_is_a_slip(session: Session) -> None:
    promised = (NOW + dt.timedelta(days=5)).date()
    f.product(session, "MUG", eta=promised)
    f.order(session, "A", [("MUG", 1)])
    assert check_delays(session, NOW + dt.timedelta(days=5), DEFAULT_POLICY) == []
    assert len(check_delays(session, NOW + dt.timedelta(days=6), DEFAULT_POLICY)) == 1


def test_a_later_date_after_a_notice_is_noticed_again_and_its_passing_too(
    session: Session,
) -> None:
    f.product(session, "MUG", eta=FAR)
    line = f.order(session, "A", [("MUG", 1)]).lines[0]
    day_30 = NOW + dt.timedelta(days=30)
    check_delays(session, day_30, DEFAULT_POLICY)
    revised = FAR + dt.timedelta(days=10)
    set_eta(session, "MUG", revised, source="agent", policy=DEFAULT_POLICY, now=day_30)
    assert len(_notices(session)) == 2
    on_revised = dt.datetime.combine(revised, dt.time(12), dt.UTC)
    assert check_delays(session, on_revised, DEFAULT_POLICY) == []
    assert check_delays(session, on_revised + dt.timedelta(days=1), DEFAULT_POLICY) == [line]
    assert line.delay_notices == 3


def test_an_earlier_date_after_a_notice_is_a_date_change_not_a_renewed_notice(
    session: Session,
) -> None:
    f.product(session, "MUG", eta=FAR)
    line = f.order(session, "A", [("MUG", 1)]).lines[0]
    day_30 = NOW + dt.timedelta(days=30)
    check_delays(session, day_30, DEFAULT_POLICY)
    sooner = (day_30 + dt.timedelta(days=10)).date()
    result = set_eta(session, "MUG", sooner, source="agent", policy=DEFAULT_POLICY, now=day_30)
    assert result.changed_line_ids == [line.id]
    assert len(_notices(session)) == 1
