"""``POST /webhooks/twilio/status``: Twilio's delivery reports for the SMS we sent.

An authenticated report always gets 200 with an empty body, whatever it says: Twilio retries
what it sees fail, and a report we cannot use will not get better by being sent again. Unknown
``MessageStatus`` values and incomplete forms change nothing and are logged; a ``MessageSid``
no row carries yet is held until the dispatcher has written it down
(``messaging.delivery_reports``). Reports may arrive out of order; the furthest state wins, so a
late ``sent`` never undoes ``delivered``.
"""

# No ``from __future__ import annotations`` here: FastAPI evaluates the route's annotations,
# and ``Depends(verify)`` names a local of ``router()`` that a string annotation cannot reach.
import asyncio
import logging
from dataclasses import dataclass
from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi.responses import Response
from sqlalchemy.exc import SQLAlchemyError

from bot.web.ops import WebMetrics
from bot.web.twilio_signature import TwilioForm, TwilioSignature
from messaging.delivery_reports import TWILIO_STATUS, ReportResult, apply_report
from store.db import Database
from store.models import OutboxStatus, utcnow

logger = logging.getLogger(__name__)

PATH = "/webhooks/twilio/status"
# The width of ``outbox_messages.provider_id``; anything longer cannot be one of ours.
MAX_SID_LENGTH = 64


@dataclass(frozen=True, slots=True)
class StatusReport:
    """The part of a status callback we act on."""

    message_sid: str
    status: OutboxStatus
    error: str | None


def parse_report(form: TwilioForm) -> StatusReport | str:
    """The report, or why it cannot be used (``malformed`` or ``unknown_status``)."""
    sid = form.get("MessageSid", "").strip()
    raw_status = form.get("MessageStatus", "").strip()
    if not sid or len(sid) > MAX_SID_LENGTH or not raw_status:
        logger.warning(
            "Twilio status callback without a usable MessageSid/MessageStatus: %r %r",
            sid[:MAX_SID_LENGTH],
            raw_status[:32],
        )
        return "malformed"
    status = TWILIO_STATUS.get(raw_status.lower())
    if status is None:
        logger.warning(
            "Twilio status callback for %r: unknown MessageStatus %r", sid, raw_status[:32]
        )
        return "unknown_status"
    error = form.get("ErrorCode", "").strip() or None
    return StatusReport(sid, status, error)


def router(db: Database, verify: TwilioSignature, metrics: WebMetrics) -> APIRouter:
    """Build the status-callback router around this app's database and signature check."""
    routes = APIRouter(include_in_schema=False)

    @routes.post(PATH)
    async def twilio_status(form: Annotated[TwilioForm, Depends(verify)]) -> Response:
        """Apply one delivery report; always 200 for an authenticated caller."""
        report = parse_report(form)
        if isinstance(report, StatusReport):
            outcome = await _apply(db, report)
        else:
            outcome = report
        metrics.webhook(PATH, outcome)
        return Response(status_code=200)

    return routes


async def _apply(db: Database, report: StatusReport) -> str:
    try:
        result = await asyncio.to_thread(_apply_sync, db, report)
    except SQLAlchemyError:
        # Still 200: Twilio would retry into the same outage. The dispatcher's own record of
        # the send stands; only this later state is lost, and the log and metric say so.
        logger.exception("Twilio status callback for %r not recorded", report.message_sid)
        return "error"
    return result.value


def _apply_sync(db: Database, report: StatusReport) -> ReportResult:
    return db.transaction(
        lambda s: apply_report(s, report.message_sid, report.status, utcnow(), report.error)
    )
