"""The agents' inbox over JSON: ``GET /api/inbox`` (filters, pages), ``POST /api/inbox/{id}/close``,
``POST /api/inbox/{id}/assign``; and a reply by hand, ``POST /api/customers/{id}/messages``.

Who acts: with an agent's own API token, that agent (verified; ``agent`` in the body may be left
out, and naming anyone else is 422). With the shop's token, the body's ``agent`` names them, as
the refunds API names who paid: unverified, so give agents their own tokens. Every write is
audit-logged under that name.
"""

# No ``from __future__ import annotations``: FastAPI evaluates the routes' annotations.
import asyncio
import datetime as dt
from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.orm import Session

from bot.agents import replies
from bot.settings import Settings
from bot.web.api.auth import Caller
from bot.web.api.errors import MAX_INT, ApiRoute, refusals, unprocessable
from store import inbox
from store.db import Database
from store.models import Channel, utcnow
from store.tables_inbox import InboxItem, InboxKind

ItemId = Annotated[int, Path(gt=0, le=2**63 - 1)]
CustomerId = Annotated[int, Path(gt=0, le=MAX_INT)]
Agent = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[^\s]+$")]


class ItemOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    kind: InboxKind
    customer_id: int | None
    customer_name: str | None = None
    channel: str
    sender: str
    detail: str | None
    message_count: int
    last_text: str | None = None
    created_at: dt.datetime
    last_at: dt.datetime
    assigned_to: str | None
    closed_at: dt.datetime | None
    closed_by: str | None


class InboxOut(BaseModel):
    items: list[ItemOut]
    total: int
    page: int
    pages: int
    counts: dict[str, int]


class ActIn(BaseModel):
    agent: Agent | None = Field(
        default=None,
        description="the agent doing it (audit log, 'mine'); with an agent's token, that agent",
    )


class AssignIn(ActIn):
    take_over: bool = Field(default=False, description="take it from the agent holding it")


class ReplyIn(BaseModel):
    text: str = Field(min_length=1, max_length=4000)
    channel: Channel | None = Field(default=None, description="default: where they last wrote")
    agent: Agent | None = Field(default=None, description="as in close; default 'api'")
    dry_run: bool = Field(default=False, description="only show what would be sent")
    idempotency_key: str | None = Field(default=None, min_length=8, max_length=64)


class ReplyOut(BaseModel):
    outbox_id: int | None
    channel: Channel
    body: str
    urgent: bool = Field(description="an answer to the customer: not held by quiet hours")
    segments: int | None
    encoding: str | None
    repeated: bool = False


def _out(item: InboxItem) -> ItemOut:
    return ItemOut.model_validate(item)


def router(settings: Settings, db: Database) -> APIRouter:
    routes = APIRouter(tags=["inbox"], route_class=ApiRoute)

    @routes.get("/inbox")
    async def get_inbox(
        state: Literal["open", "closed", "all"] = "open",
        assigned_to: Annotated[str | None, Query(max_length=64, description="mine")] = None,
        kind: InboxKind | None = None,
        page: Annotated[int, Query(ge=1, le=100_000)] = 1,
        per_page: Annotated[int, Query(ge=1, le=inbox.MAX_PAGE)] = 50,
    ) -> InboxOut:
        """What needs a person, latest activity first (failed deliveries are filed as they fail)."""

        def read() -> InboxOut:
            def work(session: Session) -> InboxOut:
                found = inbox.list_items(
                    session,
                    state=state,
                    assigned_to=assigned_to,
                    kind=kind.value if kind is not None else None,
                    page=page,
                    per_page=per_page,
                )
                items = [ItemOut.model_validate(i, from_attributes=True) for i in found.items]
                numbers = inbox.counts(session, assigned_to)
                return InboxOut(
                    items=items,
                    total=found.total,
                    page=found.page,
                    pages=found.pages,
                    counts=numbers,
                )

            return db.transaction(work)

        with refusals(["query"]):
            return await asyncio.to_thread(read)

    @routes.post("/inbox/{item_id}/close", responses={404: {"description": "no such item"}})
    async def post_close(item_id: ItemId, body: ActIn, caller: Caller) -> ItemOut:
        """Close the item; a customer waiting for a person hears from the bot again."""
        who = _who(caller, body.agent, None)

        def write() -> ItemOut:
            return db.transaction(lambda s: _out(inbox.close(s, item_id, who, utcnow())))

        with refusals():
            return await asyncio.to_thread(write)

    @routes.post(
        "/inbox/{item_id}/assign",
        responses={404: {"description": "no such item"}, 409: {"description": "held or closed"}},
    )
    async def post_assign(item_id: ItemId, body: AssignIn, caller: Caller) -> ItemOut:
        """Make the item the agent's ("mine"); 409 if another agent holds it (``take_over``)."""
        who = _who(caller, body.agent, None)

        def write() -> ItemOut:
            return db.transaction(
                lambda s: _out(inbox.assign(s, item_id, who, utcnow(), take_over=body.take_over))
            )

        with refusals():
            return await asyncio.to_thread(write)

    @routes.post(
        "/customers/{customer_id}/messages",
        tags=["customers"],
        responses={404: {"description": "no such customer"}, 409: {"description": "opted out"}},
    )
    async def post_reply(customer_id: CustomerId, body: ReplyIn, caller: Caller) -> ReplyOut:
        """A reply by hand, through the outbox (rate limits, delivery reports, opt-outs).

        ``dry_run`` answers what would be sent and its SMS segments, queueing nothing.
        """
        who = _who(caller, body.agent, "api")

        def write() -> ReplyOut:
            def work(session: Session) -> ReplyOut:
                now = utcnow()
                draft = replies.draft(
                    session, customer_id, body.text, body.channel,
                    shop_name=settings.shop_name, now=now,
                )  # fmt: skip
                if body.dry_run:
                    return _reply_out(draft, None, repeated=False)
                sent = replies.send(session, draft, agent=who, key=body.idempotency_key, now=now)
                return _reply_out(draft, sent.outbox_id, repeated=sent.repeated)

            return db.transaction(work)

        with refusals(["body", "text"]):
            return await asyncio.to_thread(write)

    return routes


def _who(caller: str | None, named: str | None, default: str | None) -> str:
    """The acting agent: the token's own (the body may only repeat it), else the body's."""
    if caller is not None:
        if named not in (None, caller):
            unprocessable(["body", "agent"], f"this token is {caller}'s: it cannot act as {named}")
        return caller
    if named is None:
        if default is None:
            unprocessable(["body", "agent"], "name the agent doing it (or use their own token)")
        return default
    return named


def _reply_out(draft: replies.Draft, outbox_id: int | None, *, repeated: bool) -> ReplyOut:
    return ReplyOut(
        outbox_id=outbox_id,
        channel=draft.channel,
        body=draft.body,
        urgent=draft.urgent,
        segments=draft.segments,
        encoding=draft.encoding,
        repeated=repeated,
    )
