"""The inbox (``/agent/inbox``: filters open/closed, mine, kind; pages), its assign and close
buttons, and the reply-by-hand form on a customer's page (preview with the SMS segment count,
then send). The same store calls as ``/api/inbox`` and ``POST /api/customers/{id}/messages``.

Every form is POST, redirect, GET: reloading never posts twice; a reply carries a nonce of its
page (``key``), so a second click on Send queues one message.
"""

# No ``from __future__ import annotations``: FastAPI evaluates the routes' annotations.
import asyncio
from collections.abc import Callable
from typing import Literal
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.orm import Session

from bot.agents import replies
from bot.agents.inbox_labels import KIND_LABELS
from bot.web.agent.auth import PATH, SignedIn, root_path
from bot.web.agent.confirm import needs_asking
from bot.web.agent.customers import MAX_ID, PREVIEW
from bot.web.agent.pages import Context
from bot.web.agent.refused_forms import forget, send_back
from bot.web.html import PAGE_HEADERS
from store import inbox
from store.db import Database
from store.errors import Conflict, InvalidInput, NotFound
from store.models import Channel

PER_PAGE = 25
_NOTICES = frozenset({"closed", "assigned", "reply_sent", "reply_repeated"})


def router(ctx: Context) -> APIRouter:
    routes = APIRouter()

    @routes.get(PATH + "/inbox")
    async def inbox_page(request: Request) -> Response:
        """What needs a person, latest activity first."""
        who = await ctx.gate.agent(request)
        query = request.query_params
        state = query.get("state", "open")
        state = state if state in ("open", "closed", "all") else "open"
        kind = query.get("kind") or None
        kind = kind if kind in KIND_LABELS else None
        mine = query.get("mine") == "1"
        page_number = (
            int(p) if (p := query.get("page", "1")).isdigit() and 0 < int(p) < 10**5 else 1
        )
        found = await asyncio.to_thread(
            _list, ctx, state, who.username if mine else None, kind, page_number
        )
        notice = query.get("done")
        return ctx.render(
            request,
            who,
            "inbox.html",
            found=found,
            state=state,
            kind=kind,
            mine=mine,
            labels=KIND_LABELS,
            tz=ctx.timezone,
            filters={"state": state, "kind": kind or "", "mine": "1" if mine else ""},
            page_link=page_link,
            notice=notice if notice in _NOTICES else None,
        )

    @routes.post(PATH + "/inbox/{item_id}/{action}")
    async def act(request: Request, item_id: str, action: str) -> Response:
        """Assign to me, or close; back where the agent was."""
        who, form = await ctx.gate.form(request)
        number = int(item_id) if item_id.isascii() and item_id.isdigit() else 0
        if action not in ("assign", "close") or not 0 < number < 2**63:
            return ctx.render(request, who, "not_found.html", 404, sku=None, what="inbox item")
        back, prefix = form.get("back"), root_path(request) + PATH + "/"
        # Only a dashboard page: never an address elsewhere (an open redirect).
        fallback = prefix + "inbox"
        target = back if isinstance(back, str) and back.startswith(prefix) else fallback
        if action == "close":  # closing hands the customer back to the bot: ask first
            back_path = target.partition("#")[0].removeprefix(root_path(request))
            asked = needs_asking(request, form, "close_item", back_path, f"inbox item {number}")
            if asked is not None:
                return asked
        try:
            await asyncio.to_thread(_act, ctx, who, number, action)
        except NotFound:
            return ctx.render(request, who, "not_found.html", 404, sku=None, what="inbox item")
        except Conflict as exc:
            return ctx.render(request, who, "refused.html", 409, message=str(exc))
        path, _, fragment = target.partition("#")
        joiner = "&" if "?" in path else "?"
        done = "closed" if action == "close" else "assigned"
        location = f"{path}{joiner}done={done}" + (f"#{fragment}" if fragment else "")
        return RedirectResponse(location, 303, headers=PAGE_HEADERS)

    @routes.post(PATH + "/customers/{customer_id}/reply")
    async def reply(request: Request, customer_id: str) -> Response:
        """Preview (segments, channel, quiet hours) or send a reply by hand."""
        who, form = await ctx.gate.form(request)
        number = int(customer_id) if customer_id.isascii() and customer_id.isdigit() else 0
        if not 0 < number <= MAX_ID:
            return ctx.render(request, who, "not_found.html", 404, sku=None, what="customer")
        text = form.get("text")
        text = text if isinstance(text, str) else ""
        raw_channel = form.get("channel")
        channel = Channel(raw_channel) if raw_channel in ("sms", "telegram") else None
        key = form.get("key")
        sending = form.get("action") == "send"
        try:
            outcome = await asyncio.to_thread(
                _reply, ctx, who, number, text, channel, key if isinstance(key, str) else None,
                sending,
            )  # fmt: skip
        except NotFound:
            return ctx.render(request, who, "not_found.html", 404, sku=None, what="customer")
        except (InvalidInput, Conflict) as exc:  # post, redirect, get: the text is kept
            kept = {"text": text, "channel": channel.value if channel else ""}
            page = f"{PATH}/customers/{number}"
            return await send_back(ctx.gate, request, who, page, kept, str(exc), "reply")
        if isinstance(outcome, replies.Draft):  # post, redirect, get: the page shows it
            kept = {"text": text, "channel": channel.value if channel else "", PREVIEW: "1"}
            page = f"{PATH}/customers/{number}"
            return await send_back(ctx.gate, request, who, page, kept, "", "reply")
        done = "reply_repeated" if outcome.repeated else "reply_sent"
        location = f"{root_path(request)}{PATH}/customers/{number}?done={done}#reply"
        return forget(ctx.gate, RedirectResponse(location, 303, headers=PAGE_HEADERS))

    return routes


def counts_for(db: Database) -> Callable[[str], dict[str, int]]:
    """The navigation's badges: two counts on an index, read with the page."""

    def counts(username: str) -> dict[str, int]:
        with db.read_session() as session:
            return inbox.counts(session, username)

    return counts


def page_link(filters: dict[str, str], **changes: object) -> str:
    """The inbox URL's query with ``changes`` applied (empty values dropped)."""
    merged = {**filters, **{k: str(v) for k, v in changes.items()}}
    return urlencode({k: v for k, v in merged.items() if v})


def _list(
    ctx: Context, state: str, agent: str | None, kind: str | None, page_number: int
) -> inbox.InboxPage:
    chosen: Literal["open", "closed", "all"] = (
        "closed" if state == "closed" else "all" if state == "all" else "open"
    )

    def work(session: Session) -> inbox.InboxPage:
        return inbox.list_items(
            session, state=chosen, assigned_to=agent, kind=kind, page=page_number, per_page=PER_PAGE
        )

    return ctx.db.transaction(work)


def _act(ctx: Context, who: SignedIn, item_id: int, action: str) -> None:
    def work(session: Session) -> None:
        if action == "close":
            inbox.close(session, item_id, who.username, ctx.clock())
        else:
            inbox.assign(session, item_id, who.username, ctx.clock(), take_over=True)

    ctx.db.transaction(work)


def _reply(
    ctx: Context,
    who: SignedIn,
    customer_id: int,
    text: str,
    channel: Channel | None,
    key: str | None,
    sending: bool,
) -> replies.Draft | replies.Sent:
    def work(session: Session) -> replies.Draft | replies.Sent:
        now = ctx.clock()
        draft = replies.draft(session, customer_id, text, channel, shop_name=ctx.shop_name, now=now)
        if not sending:
            return draft
        return replies.send(session, draft, agent=who.username, key=key, now=now)

    return ctx.db.transaction(work)
