"""Acting for a customer over the JSON API (the dashboard's action forms, for scripts and other
tools), and the outbox and audit lists:

- ``POST /api/customers/{id}/offers/{offer_id}/choice`` ``{choice}`` (wait, switch, cancel),
- ``POST /api/customers/{id}/lines/{line_id}/cancel``,
- ``POST /api/customers/{id}/lines/{line_id}/ship`` ``{carrier?, tracking?, idempotency_key?}``,
- ``POST /api/customers/{id}/orders/{number}/link/revoke`` and ``.../link/resend``,
- ``POST /api/customers/{id}/outbox/{outbox_id}/retry``,
- ``GET /api/outbox?status=&channel=&customer=&from=&to=&before=``,
- ``GET /api/audit?agent=&action=&customer=&before=``.

The same functions as the dashboard (``bot.agents.acting``, ``bot.agents.log_views``). An
agent's own API token audits each action under that agent's verified username; the shop's
``AGENT_API_TOKEN`` audits it as ``api``. An ``X-Agent`` header is refused (422): it used to
name the acting agent unverified (``api:<X-Agent>``), and a header anyone can set must not put a
name in the audit log; a script that sent it learns to use the agent's token. Someone else's id
is 404, the same as an unknown one; a refusal (``already_decided``, ``expired``) is a 200 whose
``outcome`` says why nothing changed, as on the dashboard.
"""

# No ``from __future__ import annotations``: FastAPI evaluates the routes' annotations.
import asyncio
import datetime as dt
from collections.abc import Callable
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Header, Path, Query
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from bot.agents import acting, link_resend, log_views
from bot.settings import Settings
from bot.web.api.auth import SHOP, Caller
from bot.web.api.errors import MAX_INT, ApiRoute, refusals, unprocessable
from bot.wiring import shop_voice
from store.db import Database
from store.models import OfferChoice, utcnow

CustomerId = Annotated[int, Path(gt=0, le=MAX_INT)]
RowId = Annotated[int, Path(gt=0, le=MAX_INT)]


def _actor(agent: Caller, x_agent: Annotated[str | None, Header(alias="X-Agent")] = None) -> str:
    """Who the audit log names: the token's agent, else the shop (``api``)."""
    if x_agent is not None:
        unprocessable(
            ["header", "X-Agent"],
            "X-Agent no longer names who acts: use the agent's own API token "
            "(an admin issues one on the dashboard or with 'backorder-bot agents tokens issue')",
        )
    return agent or SHOP


Actor = Annotated[str, Depends(_actor)]


class ChoiceIn(BaseModel):
    choice: OfferChoice


class ShipIn(BaseModel):
    carrier: str | None = Field(default=None, max_length=64)
    tracking: str | None = Field(default=None, max_length=64)
    idempotency_key: str | None = Field(default=None, min_length=1, max_length=100)


class DoneOut(BaseModel):
    action: str
    outcome: str
    detail: dict[str, Any]


class PageOut(BaseModel):
    rows: list[dict[str, Any]]
    next_before: int | None


def router(settings: Settings, db: Database) -> APIRouter:
    routes = APIRouter(tags=["acting for a customer"], route_class=ApiRoute)
    policy = settings.policy()
    voice = shop_voice(settings)
    zone = ZoneInfo(settings.default_timezone)
    base = "/customers/{customer_id}"
    not_found: dict[int | str, dict[str, Any]] = {
        404: {"description": "not this customer's, or no such row"}
    }

    async def run(act: Callable[[Session, dt.datetime], acting.Done]) -> DoneOut:
        def work(session: Session) -> acting.Done:
            return act(session, utcnow())

        with refusals():
            done = await asyncio.to_thread(db.transaction, work)
        return DoneOut(action=done.action, outcome=done.outcome, detail=done.detail)

    @routes.post(base + "/offers/{offer_id}/choice", responses=not_found)
    async def post_choice(
        customer_id: CustomerId, offer_id: RowId, body: ChoiceIn, who: Actor
    ) -> DoneOut:
        """Apply a choice on the customer's offer, as their own reply would (``via="agent"``)."""
        return await run(
            lambda s, now: acting.choose(
                s, customer_id, offer_id, body.choice, agent=who, now=now, policy=policy
            )
        )

    @routes.post(base + "/lines/{line_id}/cancel", responses=not_found)
    async def post_cancel(customer_id: CustomerId, line_id: RowId, who: Actor) -> DoneOut:
        """Cancel a line (through its open offer if it has one); its refund is owed."""
        return await run(
            lambda s, now: acting.cancel(s, customer_id, line_id, agent=who, now=now, policy=policy)
        )

    @routes.post(base + "/lines/{line_id}/ship", responses=not_found)
    async def post_ship(
        customer_id: CustomerId, line_id: RowId, body: ShipIn, who: Actor
    ) -> DoneOut:
        """Ship the line's reserved units; the same ``idempotency_key`` again ships nothing."""
        key = f"api:{body.idempotency_key}" if body.idempotency_key else None
        return await run(
            lambda s, now: acting.ship_line(
                s,
                customer_id,
                line_id,
                agent=who,
                now=now,
                idempotency_key=key,
                carrier=body.carrier,
                tracking=body.tracking,
            )
        )

    @routes.post(base + "/orders/{number}/link/revoke", responses=not_found)
    async def post_revoke_link(
        customer_id: CustomerId,
        number: Annotated[str, Path(min_length=1, max_length=64)],
        who: Actor,
    ) -> DoneOut:
        """Revoke the order page's link; the next message about the order carries a new one."""
        return await run(
            lambda s, now: acting.revoke_link(s, customer_id, number, agent=who, now=now)
        )

    @routes.post(base + "/orders/{number}/link/resend", responses=not_found)
    async def post_resend_link(
        customer_id: CustomerId,
        number: Annotated[str, Path(min_length=1, max_length=64)],
        who: Actor,
    ) -> DoneOut:
        """Send the order page's live link again, through the outbox; 422 when no channel
        reaches the customer."""
        return await run(
            lambda s, now: link_resend.resend_link(
                s, customer_id, number, agent=who, now=now, voice=voice
            )
        )

    @routes.post(base + "/outbox/{outbox_id}/retry", responses=not_found)
    async def post_retry(customer_id: CustomerId, outbox_id: RowId, who: Actor) -> DoneOut:
        """Queue a failed or unknown message to the customer again."""
        return await run(
            lambda s, now: acting.retry_message(s, customer_id, outbox_id, agent=who, now=now)
        )

    @routes.get("/outbox")
    async def get_outbox(
        status: str = "",
        channel: str = "",
        customer: str = "",
        from_: Annotated[str, Query(alias="from")] = "",
        to: str = "",
        before: str = "",
    ) -> PageOut:
        """Outgoing messages, newest first, 50 a page (pass ``next_before`` as ``before``)."""
        query = {"status": status, "channel": channel, "customer": customer}
        query |= {"from": from_, "to": to, "before": before}
        wanted = log_views.read_outbox_filter(query, zone)
        _refuse(wanted.errors)

        def read() -> log_views.Page:
            with db.read_session() as session:
                return log_views.outbox_page(session, wanted)

        page = await asyncio.to_thread(read)
        return PageOut(rows=page.rows, next_before=page.next_before)

    @routes.get("/audit")
    async def get_audit(
        agent: str = "", action: str = "", customer: str = "", before: str = ""
    ) -> PageOut:
        """Who did what, when, newest first, 50 a page."""
        query = {"agent": agent, "action": action, "customer": customer, "before": before}
        wanted = log_views.read_audit_filter(query)
        _refuse(wanted.errors)

        def read() -> log_views.Page:
            with db.read_session() as session:
                return log_views.audit_page(session, wanted)

        page = await asyncio.to_thread(read)
        return PageOut(rows=page.rows, next_before=page.next_before)

    return routes


def _refuse(errors: dict[str, str]) -> None:
    if errors:
        name, message = next(iter(errors.items()))
        unprocessable(["query", name], message)
