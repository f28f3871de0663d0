"""The broadcast service: preview, content checks, one row per customer, restarts, cancel,
progress and scheduling."""

import datetime as dt

import pytest
from sqlalchemy import func, select, update

from messaging.broadcast_content import ContentError
from messaging.broadcasts import BroadcastRequest, BroadcastService
from store.audience import AudienceFilter
from store.db import Database
from store.errors import Conflict
from store.models import (
    AuditEntry,
    Broadcast,
    BroadcastStatus,
    Channel,
    Customer,
    OutboxMessage,
    OutboxStatus,
)
from tests.factories import NOW
from tests.messaging.broadcast_shop import Shop, build, service

TEXT = "Hi {{ first_name }}, {{ product }} (order {{ order_number }}) is due {{ eta }}."
REACHABLE = {"ada", "bea", "carl", "eli", "hana"}
SPANISH = "Hola {{ first_name }}, {{ product }} llega el {{ eta }}."


@pytest.fixture
def shop(committed_db: Database) -> Shop:
    return build(committed_db)


@pytest.fixture
def svc(committed_db: Database) -> BroadcastService:
    return service(committed_db)


def _request(**overrides: object) -> BroadcastRequest:
    values: dict[str, object] = {"filters": AudienceFilter(), "text": TEXT, "created_by": "ann"}
    values.update(overrides)
    return BroadcastRequest(**values)  # type: ignore[arg-type]


def _rows(db: Database, broadcast_id: int) -> list[OutboxMessage]:
    with db.read_session() as session:
        return list(
            session.scalars(
                select(OutboxMessage)
                .where(OutboxMessage.broadcast_id == broadcast_id)
                .order_by(OutboxMessage.customer_id)
            )
        )


def _assert_refused(
    svc: BroadcastService, db: Database, request: BroadcastRequest, field: str, message: str
) -> None:
    """Submit and preview both refuse ``request`` naming ``field``; nothing is written."""
    with pytest.raises(ContentError, match=message) as caught:
        svc.submit(request)
    assert caught.value.field == field
    with pytest.raises(ContentError):
        svc.preview(request)
    assert _count(db, Broadcast) == 0
    assert _count(db, OutboxMessage) == 0


def _count(db: Database, model: type) -> int:
    with db.read_session() as session:
        return session.scalar(select(func.count()).select_from(model)) or 0


# ---- preview ----


def test_preview_counts_recipients_by_channel_and_locale(svc: BroadcastService, shop: Shop) -> None:
    preview = svc.preview(_request())
    assert preview.tally.recipients == len(REACHABLE)
    assert dict(preview.tally.by_channel) == {"sms": 3, "telegram": 2}
    assert dict(preview.tally.by_locale) == {"en": 4, "es-MX": 1}


def test_preview_counts_skipped_by_reason(svc: BroadcastService, shop: Shop) -> None:
    skipped = svc.preview(_request()).tally.skipped
    # dora: SMS opted out, no Telegram; fay: invalid number; gus: no phone, no chat.
    assert dict(skipped) == {"opted_out": 1, "invalid": 1, "no_channel": 1}


def test_preview_counts_quiet_hours_deferrals_in_each_customers_zone(
    svc: BroadcastService, shop: Shop
) -> None:
    # At 12:00 UTC it is 21:00 in Tokyo (hana) and 06:00 in Mexico City (bea).
    assert svc.preview(_request()).tally.quiet_hours_deferred == 2


def test_preview_renders_one_sample_per_locale_and_channel(
    svc: BroadcastService, shop: Shop
) -> None:
    samples = svc.preview(_request()).samples
    assert {(s.locale, s.channel) for s in samples} == {
        ("en", "sms"),
        ("en", "telegram"),
        ("es-MX", "sms"),
    }
    spanish = next(s for s in samples if s.locale == "es-MX")
    assert "15 de enero de 2027" in spanish.text
    assert spanish.text.endswith("Responde STOP para darte de baja.")
    assert spanish.sms_segments == 1
    assert spanish.encoding == "GSM-7"


def test_preview_writes_nothing(svc: BroadcastService, committed_db: Database, shop: Shop) -> None:
    svc.preview(_request())
    assert _count(committed_db, Broadcast) == 0
    assert _count(committed_db, OutboxMessage) == 0


def test_long_text_reports_several_segments(svc: BroadcastService, shop: Shop) -> None:
    preview = svc.preview(_request(text="Update: " + "x" * 300))
    assert preview.sms_segments == 3


def test_agent_text_is_escaped_for_telegram(svc: BroadcastService, shop: Shop) -> None:
    preview = svc.preview(_request(text="<b>{{ name }}</b> & co"))
    telegram = next(s for s in preview.samples if s.channel == "telegram")
    assert "&lt;b&gt;Carl Tg&lt;/b&gt; &amp; co" in telegram.text


def test_library_template_renders_in_each_language(svc: BroadcastService, shop: Shop) -> None:
    preview = svc.preview(_request(text=None, template="eta_changed"))
    assert preview.tally.recipients == len(REACHABLE)
    assert len({s.text for s in preview.samples}) == 3


# ---- content validation ----


@pytest.mark.parametrize(
    ("template", "text", "field", "message"),
    [
        (None, "Hi {{ nmae }}", "text", "unknown placeholder {{ nmae }}"),
        (None, "Hi {{ name", "text", "syntax error"),
        (None, "{{ name.__class__ }}", "text", "unsafe"),
        (None, "   ", "text", "empty"),
        (None, "x" * 1001, "text", "longer than"),
        (None, None, "text", "either"),
        ("eta_changed", "hi", "text", "either"),
        ("nope", None, "template", "there is no template 'nope'"),
        ("opted_out", None, "template", "not one a broadcast can send"),
    ],
)
def test_bad_content_is_refused_before_anything_is_written(
    svc: BroadcastService,
    committed_db: Database,
    shop: Shop,
    template: str | None,
    text: str | None,
    field: str,
    message: str,
) -> None:
    request = _request(template=template, text=text)
    _assert_refused(svc, committed_db, request, field, message)


def test_coupon_placeholder_skips_customers_without_one(svc: BroadcastService, shop: Shop) -> None:
    preview = svc.preview(_request(text="Your code: {{ coupon }}"))
    assert preview.tally.recipients == 1  # only ada chose to wait and has a coupon
    assert preview.tally.skipped["no_coupon"] == len(REACHABLE) - 1
    assert "WAIT-ADA12345" in preview.samples[0].text


# ---- translations ----


def _bodies(db: Database, broadcast_id: int, shop: Shop) -> dict[str, str]:
    names = {v: k for k, v in shop.ids.items()}
    return {names[r.customer_id]: r.body for r in _rows(db, broadcast_id)}


def test_spanish_speakers_get_the_translation_and_the_others_the_text(
    svc: BroadcastService, committed_db: Database, shop: Shop
) -> None:
    info, _ = svc.submit(_request(translations={"es": SPANISH}))
    bodies = _bodies(committed_db, info.id, shop)
    # bea's locale is es-MX: the "es" translation is hers.
    assert "Hola Beatriz, Product SKU-B llega el 15 de enero de 2027." in bodies["bea"]
    others = [body for name, body in bodies.items() if name != "bea"]
    assert len(others) == len(REACHABLE) - 1
    assert all("Hi " in body and "Hola" not in body for body in others)


def test_the_preview_shows_each_language_its_text(svc: BroadcastService, shop: Shop) -> None:
    samples = svc.preview(_request(translations={"es": SPANISH})).samples
    texts = {(s.locale, s.channel): s.text for s in samples}
    assert "Hola Beatriz" in texts[("es-MX", "sms")]
    assert "Hi Ada" in texts[("en", "sms")]


def test_a_coupon_in_one_language_skips_only_its_speakers_without_one(
    svc: BroadcastService, shop: Shop
) -> None:
    preview = svc.preview(_request(translations={"es": "Tu código: {{ coupon }}"}))
    assert dict(preview.tally.skipped) == {
        "opted_out": 1,
        "invalid": 1,
        "no_channel": 1,
        "no_coupon": 1,  # bea; the English text needs no coupon
    }


def test_a_restart_mid_queueing_renders_the_translations(
    committed_db: Database, shop: Shop
) -> None:
    with committed_db.session() as session:
        # hana comes last in customer-id order: she is queued after the crash.
        session.execute(update(Customer).where(Customer.id == shop.ids["hana"]).values(locale="es"))
    svc = service(committed_db, batch_size=2)
    info, _ = svc.create(_request(translations={"es": SPANISH}))

    def crash(_n: int) -> None:
        raise RuntimeError("process killed")

    with pytest.raises(RuntimeError):
        svc.queue(info.id, progress=crash)
    assert shop.ids["hana"] not in {r.customer_id for r in _rows(committed_db, info.id)}

    service(committed_db, batch_size=2).queue(info.id)
    bodies = _bodies(committed_db, info.id, shop)
    assert "Hola Hana" in bodies["hana"]
    assert "Hola Beatriz" in bodies["bea"]
    assert "Hi Ada" in bodies["ada"]


def test_other_translations_are_another_broadcast(
    svc: BroadcastService, committed_db: Database, shop: Shop
) -> None:
    first, _ = svc.create(_request(translations={"es": SPANISH}))
    again, created = svc.create(_request(translations={"es": SPANISH}))
    assert (again.id, created) == (first.id, False)
    other, created = svc.create(_request(translations={"es": "Hola {{ name }}."}))
    assert created
    assert other.id != first.id
    svc.create(_request(idempotency_key="k-1", translations={"es": SPANISH}))
    with pytest.raises(Conflict, match="k-1"):
        svc.create(_request(idempotency_key="k-1", translations={"es": "Hola."}))
    with pytest.raises(Conflict, match="k-1"):
        svc.create(_request(idempotency_key="k-1"))


def test_translations_are_shown_and_audited(
    svc: BroadcastService, committed_db: Database, shop: Shop
) -> None:
    info, _ = svc.create(_request(translations={"es": f"  {SPANISH}\n"}))
    assert info.to_json()["translations"] == {"es": SPANISH}
    assert svc.get(info.id).translations == {"es": SPANISH}
    with committed_db.read_session() as session:
        created = session.scalars(select(AuditEntry)).one().details
    assert created["translations"] == {"es": SPANISH}


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"translations": {"es": "Hola {{ nombre }}"}}, "translations.es", "es translation: unk"),
        ({"translations": {"es": "Hola {{ name"}}, "translations.es", "syntax error"),
        ({"translations": {"es": "{{ name.__class__ }}"}}, "translations.es", "unsafe"),
        ({"translations": {"es": " "}}, "translations.es", "es translation: the text is empty"),
        ({"translations": {"es": "x" * 1001}}, "translations.es", "longer than"),
        ({"translations": {"fr": "Salut"}}, "translations", "en, es .*not 'fr'"),
        ({"translations": {"es-MX": "Hola"}}, "translations", "'es-MX'"),
        ({"translations": {"es": "Hola"}, "text": None}, "text", "give the text too"),
        (
            {"translations": {"es": "Hola"}, "text": None, "template": "eta_changed"},
            "translations",
            "template",
        ),
    ],
)
def test_bad_translations_are_refused_before_anything_is_written(
    svc: BroadcastService,
    committed_db: Database,
    shop: Shop,
    changes: dict[str, object],
    field: str,
    message: str,
) -> None:
    request = _request(**changes)
    _assert_refused(svc, committed_db, request, field, message)


# ---- queueing ----


def test_submit_queues_one_row_per_reachable_customer(
    svc: BroadcastService, committed_db: Database, shop: Shop
) -> None:
    info, created = svc.submit(_request())
    assert created
    assert info.status == BroadcastStatus.SENDING
    rows = _rows(committed_db, info.id)
    assert {r.customer_id for r in rows} == {shop.ids[k] for k in REACHABLE}
    assert {r.dedupe_key for r in rows} == {
        f"broadcast:{info.id}:customer:{shop.ids[k]}" for k in REACHABLE
    }
    assert all(r.status == OutboxStatus.PENDING and r.due_at == NOW for r in rows)
    assert all(r.message == "broadcast" for r in rows)
    carl = next(r for r in rows if r.customer_id == shop.ids["carl"])
    assert carl.channel == Channel.TELEGRAM
    assert carl.address == "9000000001"
    # eli opted out of SMS but has Telegram: reached there.
    eli = next(r for r in rows if r.customer_id == shop.ids["eli"])
    assert eli.channel == Channel.TELEGRAM
    assert info.counts["queued"] == len(REACHABLE)
    assert info.counts["skipped"] == {"opted_out": 1, "invalid": 1, "no_channel": 1}


def test_the_channel_filter_sends_only_on_that_channel(
    svc: BroadcastService, committed_db: Database, shop: Shop
) -> None:
    info, _ = svc.submit(_request(filters=AudienceFilter(channel=Channel.SMS)))
    rows = _rows(committed_db, info.id)
    assert {r.channel for r in rows} == {Channel.SMS}
    # eli has a phone but opted out of SMS: skipped, not moved to Telegram.
    assert info.counts["skipped"]["opted_out"] == 2


def test_double_submit_returns_the_same_broadcast(
    svc: BroadcastService, committed_db: Database, shop: Shop
) -> None:
    first, created = svc.submit(_request())
    again, created_again = svc.submit(_request())
    assert created
    assert not created_again
    assert again.id == first.id
    assert _count(committed_db, Broadcast) == 1
    assert len(_rows(committed_db, first.id)) == len(REACHABLE)


def test_same_content_after_the_window_is_a_new_broadcast(
    committed_db: Database, shop: Shop
) -> None:
    first, _ = service(committed_db).submit(_request())
    later = service(committed_db, now=NOW + dt.timedelta(minutes=11))
    second, created = later.submit(_request())
    assert created
    assert second.id != first.id


def test_a_client_key_finds_its_broadcast_and_refuses_other_content(
    svc: BroadcastService, shop: Shop
) -> None:
    first, _ = svc.submit(_request(idempotency_key="k-1"))
    again, created = svc.submit(_request(idempotency_key="k-1"))
    assert again.id == first.id
    assert not created
    with pytest.raises(Conflict, match="k-1"):
        svc.submit(_request(idempotency_key="k-1", text="Something else"))


def test_a_restart_mid_queueing_resumes_without_duplicates(
    committed_db: Database, shop: Shop
) -> None:
    svc = service(committed_db, batch_size=2)
    info, _ = svc.create(_request())
    batches = 0

    def crash_after_first_batch(_n: int) -> None:
        nonlocal batches
        batches += 1
        raise RuntimeError("process killed")

    with pytest.raises(RuntimeError):
        svc.queue(info.id, progress=crash_after_first_batch)
    halfway = svc.get(info.id)
    assert halfway.status == BroadcastStatus.QUEUEING
    assert halfway.cursor_customer_id > 0
    assert 0 < len(_rows(committed_db, info.id)) < len(REACHABLE)

    done = service(committed_db, batch_size=2).queue(info.id)
    assert done.status == BroadcastStatus.SENDING
    rows = _rows(committed_db, info.id)
    assert sorted(r.customer_id for r in rows) == sorted(shop.ids[k] for k in REACHABLE)
    assert done.counts["recipients"] == len(REACHABLE)
    assert done.counts["matched"] == 8


def test_requeueing_from_the_start_adds_no_rows(
    svc: BroadcastService, committed_db: Database, shop: Shop
) -> None:
    info, _ = svc.submit(_request())
    with committed_db.session() as session:
        session.execute(
            update(Broadcast)
            .where(Broadcast.id == info.id)
            .values(status=BroadcastStatus.QUEUEING, cursor_customer_id=0)
        )
    svc.queue(info.id)
    assert len(_rows(committed_db, info.id)) == len(REACHABLE)


def test_resume_interrupted_finishes_stale_broadcasts(committed_db: Database, shop: Shop) -> None:
    info, _ = service(committed_db).create(_request())
    later = service(committed_db, now=NOW + dt.timedelta(minutes=5))
    assert later.resume_interrupted() == [info.id]
    assert len(_rows(committed_db, info.id)) == len(REACHABLE)
    assert later.resume_interrupted() == []


def test_every_broadcast_is_in_the_audit_log(
    svc: BroadcastService, committed_db: Database, shop: Shop
) -> None:
    info, _ = svc.submit(_request())
    svc.cancel(info.id, "bob")
    with committed_db.read_session() as session:
        entries = session.scalars(select(AuditEntry).order_by(AuditEntry.id)).all()
        log = [(e.actor, e.action, e.subject) for e in entries]
        created = entries[0].details
    subject = f"broadcast:{info.id}"
    assert log == [
        ("ann", "broadcast.created", subject),
        ("ann", "broadcast.queued", subject),
        ("bob", "broadcast.cancelled", subject),
    ]
    assert created["text"] == TEXT
    assert created["filters"] == {"status": "backordered"}


# ---- scheduling ----


def test_a_scheduled_broadcast_is_due_at_its_time(
    svc: BroadcastService, committed_db: Database, shop: Shop
) -> None:
    send_at = NOW + dt.timedelta(days=1)
    info, _ = svc.submit(_request(send_at=send_at))
    assert info.status == BroadcastStatus.SCHEDULED
    assert {r.due_at for r in _rows(committed_db, info.id)} == {send_at}
    assert svc.progress(info.id).broadcast.status == BroadcastStatus.SCHEDULED
    later = service(committed_db, now=send_at + dt.timedelta(seconds=1))
    assert later.progress(info.id).broadcast.status == BroadcastStatus.SENDING


def test_a_send_time_in_the_past_is_refused(svc: BroadcastService, shop: Shop) -> None:
    with pytest.raises(ContentError, match="past"):
        svc.submit(_request(send_at=NOW - dt.timedelta(hours=1)))


def test_quiet_hours_are_judged_at_the_scheduled_time(svc: BroadcastService, shop: Shop) -> None:
    # 02:00 UTC: 11:00 in Tokyo, 20:00 in Mexico City, 02:00 for the UTC customers.
    send_at = dt.datetime(2026, 11, 3, 2, tzinfo=dt.UTC)
    assert svc.preview(_request(send_at=send_at)).tally.quiet_hours_deferred == 3


# ---- progress, cancel ----


def _set_status(db: Database, broadcast_id: int, statuses: list[OutboxStatus]) -> None:
    rows = _rows(db, broadcast_id)
    with db.session() as session:
        for row, status in zip(rows, statuses, strict=False):
            session.execute(
                update(OutboxMessage).where(OutboxMessage.id == row.id).values(status=status)
            )


def test_progress_counts_rows_by_status(
    svc: BroadcastService, committed_db: Database, shop: Shop
) -> None:
    info, _ = svc.submit(_request())
    _set_status(
        committed_db,
        info.id,
        [OutboxStatus.SENT, OutboxStatus.DELIVERED, OutboxStatus.FAILED, OutboxStatus.SKIPPED],
    )
    progress = svc.progress(info.id).to_json()["progress"]
    assert progress["queued"] == 5
    assert (progress["sent"], progress["delivered"], progress["failed"]) == (1, 1, 1)
    assert (progress["skipped"], progress["pending"]) == (1, 1)
    assert progress["percent_done"] == 80.0
    assert progress["skipped_when_queued"] == {"opted_out": 1, "invalid": 1, "no_channel": 1}


def test_a_broadcast_with_nothing_left_to_send_is_done(
    svc: BroadcastService, committed_db: Database, shop: Shop
) -> None:
    info, _ = svc.submit(_request())
    _set_status(committed_db, info.id, [OutboxStatus.DELIVERED] * 5)
    progress = svc.progress(info.id)
    assert progress.broadcast.status == BroadcastStatus.DONE
    assert progress.broadcast.finished_at == NOW
    assert svc.get(info.id).status == BroadcastStatus.DONE


def test_cancel_skips_rows_not_yet_sent(
    svc: BroadcastService, committed_db: Database, shop: Shop
) -> None:
    info, _ = svc.submit(_request())
    _set_status(committed_db, info.id, [OutboxStatus.SENT, OutboxStatus.CLAIMED])
    progress = svc.cancel(info.id, "bob")
    assert progress.broadcast.status == BroadcastStatus.CANCELLED
    assert progress.broadcast.cancelled_by == "bob"
    rows = _rows(committed_db, info.id)
    assert [r.status for r in rows].count(OutboxStatus.SENT) == 1
    stopped = [r for r in rows if r.status == OutboxStatus.SKIPPED]
    assert len(stopped) == 4
    assert {r.last_error for r in stopped} == {"broadcast_cancelled"}


def test_cancelling_twice_is_harmless(svc: BroadcastService, shop: Shop) -> None:
    info, _ = svc.submit(_request())
    svc.cancel(info.id, "bob")
    assert svc.cancel(info.id, "bob").broadcast.status == BroadcastStatus.CANCELLED


def test_a_finished_broadcast_cannot_be_cancelled(
    svc: BroadcastService, committed_db: Database, shop: Shop
) -> None:
    info, _ = svc.submit(_request())
    _set_status(committed_db, info.id, [OutboxStatus.DELIVERED] * 5)
    with pytest.raises(Conflict, match="finished"):
        svc.cancel(info.id, "bob")


def test_cancel_stops_queueing_in_progress(committed_db: Database, shop: Shop) -> None:
    svc = service(committed_db, batch_size=2)
    info, _ = svc.create(_request())
    svc.cancel(info.id, "bob")
    assert svc.queue(info.id).status == BroadcastStatus.CANCELLED
    assert _rows(committed_db, info.id) == []


def test_cancel_during_queueing_stops_the_next_batch(committed_db: Database, shop: Shop) -> None:
    svc = service(committed_db, batch_size=2)
    info, _ = svc.create(_request())
    cancelled = False

    def cancel_once(_n: int) -> None:
        nonlocal cancelled
        if not cancelled:
            cancelled = True
            service(committed_db).cancel(info.id, "bob")

    result = svc.queue(info.id, progress=cancel_once)
    assert result.status == BroadcastStatus.CANCELLED
    rows = _rows(committed_db, info.id)
    assert rows, "the first batch was queued before the cancel"
    assert {r.status for r in rows} == {OutboxStatus.SKIPPED}
