"""Search (``/agent/search?q=``, the box at the top of every page) and a customer's page
(``/agent/customers/{id}``): who they are, consent per channel, their orders with line
statuses, and one timeline of everything in and out, a page at a time (``?before=<cursor>``).

The same store queries as ``/api/customers`` (``store.search``, ``store.customer_profile``,
``store.customer_timeline``). Nothing here logs the query: it is often a phone number.
"""

# No ``from __future__ import annotations``: FastAPI evaluates the routes' annotations.
import asyncio
import secrets
from collections.abc import Mapping
from dataclasses import dataclass

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy import select

from bot.agents import replies
from bot.agents.acting_options import Options, options
from bot.agents.inbox_labels import KIND_LABELS
from bot.agents.timeline_text import entry_text
from bot.web.agent import actions
from bot.web.agent.auth import PATH, SignedIn
from bot.web.agent.compose import new_key
from bot.web.agent.pages import Context
from bot.web.agent.refused_forms import take_back
from store.customer_profile import Profile, profile
from store.customer_timeline import TimelinePage, timeline
from store.errors import Conflict, InvalidInput, NotFound
from store.inbox import MAX_PAGE, ItemView, list_items
from store.models import Channel, Customer
from store.search import SearchResults, clean_query, search

TIMELINE_PAGE = 50
_NOTICES = frozenset({"reply_sent", "reply_repeated", "closed", "assigned"})
MAX_ID = 2**31 - 1
PREVIEW = "preview"  # a kept reply form's field: show it previewed (its segments, its channel)


@dataclass(frozen=True, slots=True)
class CustomerPage:
    customer: Profile
    timeline: TimelinePage
    open_items: list[ItemView]
    handed_off: bool
    actions: Options


def router(ctx: Context, default_region: str | None) -> APIRouter:
    routes = APIRouter()

    @routes.get(PATH + "/search")
    async def search_page(request: Request) -> Response:
        """Customers by phone, name, order number or SKU; each links to their page."""
        who = await ctx.gate.agent(request)
        q = clean_query(request.query_params.get("q", ""))
        results = await asyncio.to_thread(_search, ctx, q, default_region)
        return ctx.render(request, who, "search.html", q=q, results=results)

    @routes.get(PATH + "/customers/{customer_id}")
    async def customer_page(request: Request, customer_id: str) -> Response:
        """Who they are, their orders, and the timeline (newest first)."""
        who = await ctx.gate.agent(request)
        before = request.query_params.get("before")
        number = int(customer_id) if customer_id.isascii() and customer_id.isdigit() else 0
        if not 0 < number <= MAX_ID:
            return ctx.render(request, who, "not_found.html", 404, sku=None, what="customer")
        try:
            found = await asyncio.to_thread(customer_view, ctx, number, before)
        except InvalidInput:  # a cursor edited by hand: show the newest entries instead
            found = await asyncio.to_thread(customer_view, ctx, number, None)
            before = None
        if found is None:
            return ctx.render(request, who, "not_found.html", 404, sku=None, what="customer")
        refused = await take_back(ctx.gate, request, who, f"{PATH}/customers/{number}")
        if refused is not None:  # a refused or previewed reply, sent back with the agent's text
            fields = dict(refused.fields)
            draft, error = None, refused.error or None
            if fields.pop(PREVIEW, "") == "1":
                draft, error = await asyncio.to_thread(_preview, ctx, number, fields)
            reply = {**fields, "draft": draft}
            return render_customer(ctx, request, who, found, paged=False, reply=reply, error=error)
        return render_customer(ctx, request, who, found, paged=before is not None)

    return routes


def _search(ctx: Context, q: str, default_region: str | None) -> SearchResults:
    with ctx.db.read_session() as session:
        return search(session, q, default_region=default_region)


def _preview(
    ctx: Context, customer_id: int, fields: Mapping[str, str]
) -> tuple[replies.Draft | None, str | None]:
    """The kept reply as it would go now, or why it could not (the customer changed since)."""
    raw = fields.get("channel")
    channel = Channel(raw) if raw in ("sms", "telegram") else None
    with ctx.db.read_session() as session:
        try:
            draft = replies.draft(
                session, customer_id, fields.get("text", ""), channel,
                shop_name=ctx.shop_name, now=ctx.clock(),
            )  # fmt: skip
        except (InvalidInput, Conflict, NotFound) as exc:
            return None, str(exc)
    return draft, None


def customer_view(ctx: Context, customer_id: int, before: str | None) -> CustomerPage | None:
    """The customer, a page of their timeline, and their open inbox items."""
    with ctx.db.read_session() as session:
        found = profile(session, customer_id)
        if found is None:
            return None
        page = timeline(session, customer_id, before=before, limit=TIMELINE_PAGE)
        items = list_items(session, state="open", customer_id=customer_id, per_page=MAX_PAGE)
        handed_off = session.scalar(
            select(Customer.handed_off_at).where(Customer.id == customer_id)
        )
        acting = options(session, customer_id, ctx.clock())
        return CustomerPage(found, page, items.items, handed_off is not None, acting)


def render_customer(
    ctx: Context,
    request: Request,
    who: SignedIn,
    found: CustomerPage,
    *,
    paged: bool,
    reply: Mapping[str, object] | None = None,
    error: str | None = None,
) -> Response:
    """The customer's page; ``reply``: the reply form as the agent left it (preview, error)."""
    notice = request.query_params.get("done")
    return ctx.render(
        request,
        who,
        "customer.html",
        page=found,
        paged=paged,
        tz=ctx.timezone,
        locale="en",
        shown=entry_text,
        reply=reply or {"text": "", "channel": "", "draft": None},
        reply_error=error,
        key=secrets.token_urlsafe(16),
        notice=notice if notice in _NOTICES | actions.NOTICES else None,
        error=_known(request.query_params.get("error"), actions.ERRORS),
        ship_key=new_key(),
        labels=KIND_LABELS,
    )


def _known(value: str | None, known: frozenset[str]) -> str | None:
    """A notice or error code from the query, only if the page has words for it."""
    return value if value in known else None
