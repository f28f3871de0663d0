"""``POST /webhooks/twilio/sms``: a customer's text message in, a TwiML answer out.

The signature is checked first (``TwilioSignature``: 403 and nothing written otherwise). An
authenticated request always gets 200 with TwiML, well inside Twilio's 15 seconds: the work is
one indexed look-up and a short transaction (``bot.inbound``). The answer is an empty
``<Response/>`` when there is nothing to say now: a duplicate delivery of a ``MessageSid``
already handled, a keyword Twilio answered itself (``OptOutType``), news the outbox is sending
anyway, a form without ``MessageSid`` or ``From``, or a database that failed us (the message stays
logged but unhandled, and Twilio's retry, if configured, handles it).

Twilio posts WhatsApp (and other channels') messages here too, with ``From=whatsapp:+1...``.
``phonenumbers`` would read that as the plain number, so the SMS customer's consent and orders
would be theirs. Until WhatsApp is a channel of its own, a sender with a channel prefix is only
logged (as handled, tied to no customer) and answered with one fixed message from the template
``whatsapp_unsupported`` (other prefixes: an empty answer).
"""

# No ``from __future__ import annotations``: FastAPI evaluates ``Depends(verify)`` on a local.
import asyncio
import logging
from typing import Annotated
from xml.sax.saxutils import escape

from fastapi import APIRouter, Depends
from fastapi.responses import Response
from sqlalchemy.exc import SQLAlchemyError

from bot.conversation import Incoming
from bot.inbound import Inbound, Received
from bot.web.ops import WebMetrics
from bot.web.twilio_signature import TwilioForm, TwilioSignature
from store.models import Channel

logger = logging.getLogger(__name__)

PATH = "/webhooks/twilio/sms"
TWIML = "application/xml"
MAX_SID_LENGTH = 64
WHATSAPP = "whatsapp"


def parse_message(form: TwilioForm) -> Received | None:
    """The message in a verified form, or None when it lacks what identifies it."""
    sid = (form.get("MessageSid") or form.get("SmsSid") or "").strip()
    sender = form.get("From", "").strip()
    if not sid or len(sid) > MAX_SID_LENGTH or not sender or len(sender) > 64:
        return None
    incoming = Incoming(
        text=form.get("Body", ""),
        opt_out_type=form.get("OptOutType", "").strip() or None,
    )
    return Received(Channel.SMS, sid, sender, incoming)


def channel_prefix(sender: str) -> str | None:
    """``"whatsapp"`` for ``whatsapp:+1...``; None for a plain SMS sender (no phone has a colon)."""
    prefix, colon, _ = sender.partition(":")
    return prefix.strip().lower() if colon else None


_XML_DECLARATION = '<?xml version="1.0" encoding="UTF-8"?>'
EMPTY_TWIML = f"{_XML_DECLARATION}<Response />"


def twiml(text: str | None) -> Response:
    """A TwiML ``<Response>`` with one ``<Message>``, or empty: Twilio then sends nothing.

    Written as twilio's ``MessagingResponse`` writes it (the same bytes: ``test_twilio_sms``
    compares), without building an ElementTree per request.
    """
    if not text:
        return Response(EMPTY_TWIML, media_type=TWIML)
    return Response(
        f"{_XML_DECLARATION}<Response><Message>{escape(text)}</Message></Response>",
        media_type=TWIML,
    )


def router(
    inbound: Inbound,
    verify: TwilioSignature,
    metrics: WebMetrics,
    *,
    whatsapp_answer: str | None = None,
) -> APIRouter:
    """Build the inbound-SMS router around the inbound service and the signature check.

    ``whatsapp_answer``: the fixed text a WhatsApp sender gets (None: an empty answer).
    """
    routes = APIRouter(include_in_schema=False)

    async def not_served(received: Received, prefix: str) -> Response:
        intent = f"{prefix}_unsupported" if prefix == WHATSAPP else "channel_unsupported"
        first = await asyncio.to_thread(inbound.record_unsupported, received, intent)
        metrics.webhook(PATH, intent if first else "duplicate")
        return twiml(whatsapp_answer if first and prefix == WHATSAPP else None)

    @routes.post(PATH)
    async def twilio_sms(form: Annotated[TwilioForm, Depends(verify)]) -> Response:
        """Handle one inbound SMS; answer with TwiML."""
        received = parse_message(form)
        if received is None:
            logger.warning("inbound SMS without a usable MessageSid/From; ignored")
            metrics.webhook(PATH, "malformed")
            return twiml(None)
        prefix = channel_prefix(received.sender)
        if prefix is not None:
            try:
                return await not_served(received, prefix)
            except SQLAlchemyError:
                logger.exception("inbound %s message %s not logged", prefix, received.provider_id)
                metrics.webhook(PATH, "error")
                return twiml(None)
        try:
            handled = await asyncio.to_thread(inbound.handle, received)
        except SQLAlchemyError:
            logger.exception("inbound SMS %s not handled", received.provider_id)
            metrics.webhook(PATH, "error")
            return twiml(None)
        metrics.inbound(Channel.SMS, handled)
        metrics.webhook(PATH, "duplicate" if handled.duplicate else "handled")
        return twiml(handled.text_to_send)

    return routes


__all__ = ["PATH", "channel_prefix", "parse_message", "router", "twiml"]
