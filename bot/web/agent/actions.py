"""The customer page's action forms: an agent acting for the customer (``bot.agents.acting``).

Every route is a POST form with the session's CSRF token (``Gate.form``: 403 before anything is
read), works on one customer's own offer, line, order or message (anyone else's is a 404, as
an unknown id), and answers 303 back to the customer page with a notice: post, redirect, get,
so Back or a reload never acts twice. Shipping carries a key made when the page was shown, so
a double click ships once. Danger buttons (cancel a line or cancel for the customer, revoke the
link) go through the confirmation page first (``bot.web.agent.confirm``); a second "Yes"
finds the work done ("unchanged"), and changes nothing.
"""

# No ``from __future__ import annotations``: FastAPI evaluates the routes' annotations.
import asyncio
from collections.abc import Callable

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.orm import Session
from starlette.datastructures import FormData

from bot.agents import acting, link_resend
from bot.web.agent.auth import PATH, SignedIn, root_path
from bot.web.agent.confirm import needs_asking
from bot.web.agent.pages import Context
from bot.web.html import PAGE_HEADERS
from messaging.notifier import ShopVoice
from store.errors import Conflict, InvalidInput, NotFound
from store.models import OfferChoice

MAX_ID = 2**31 - 1
# Notices the customer page knows how to word (anything else in the query is ignored).
NOTICES = frozenset(
    f"{action}:{outcome}"
    for action, outcomes in {
        "customer.offer_choice": (
            "done",
            "unchanged",
            "expired",
            "superseded",
            "already_decided",
            "no_alternative",
            "alternative_unavailable",
        ),
        "customer.line_cancelled": ("done", "unchanged"),
        "customer.line_shipped": ("done", "unchanged"),
        "customer.link_revoked": ("done", "no_live_link"),
        "customer.link_resent": ("done",),
        "customer.message_retried": ("done", "unchanged"),
    }.items()
    for outcome in outcomes
)
ERRORS = frozenset(
    {
        "not_found",
        "not_cancellable",
        "nothing_to_ship",
        "not_retryable",
        "bad_choice",
        "unreachable",
    }
)


Act = Callable[[Session, SignedIn, int], acting.Done]


def router(ctx: Context, voice: ShopVoice) -> APIRouter:
    routes = APIRouter()
    base = PATH + "/customers/{customer_id}"

    async def act(
        request: Request,
        customer_id: str,
        invalid: str,
        make: Callable[[FormData], Act | Response],
        danger: Callable[[FormData], str | None] = lambda _: None,
    ) -> Response:
        """The boilerplate of every action: the CSRF check, the confirmation step of a danger
        button, the action in its own transaction, and the redirect back with its notice.
        ``make`` reads the form into the action (or answers a refusal itself)."""
        who, form = await ctx.gate.form(request)
        made = make(form)
        if isinstance(made, Response):
            return made
        what = danger(form)
        if what is not None:
            back = f"{PATH}/customers/{_number(customer_id)}"
            asked = needs_asking(request, form, what, back)
            if asked is not None:
                return asked
        return await _run(ctx, request, customer_id, invalid, made, who)

    @routes.post(base + "/offers/{offer_id}/choice")
    async def choose(request: Request, customer_id: str, offer_id: str) -> Response:
        """Wait, switch or cancel on the customer's open offer, recorded ``via="agent"``;
        cancelling asks first."""
        offer = _number(offer_id)

        def make(form: FormData) -> Act | Response:
            raw = form.get("choice")
            try:
                choice = OfferChoice(raw if isinstance(raw, str) else "")
            except ValueError:
                return _back(request, customer_id, error="bad_choice")
            return lambda s, w, c: acting.choose(
                s, c, offer, choice, agent=w.username, now=ctx.clock(), policy=ctx.policy
            )

        def danger(form: FormData) -> str | None:
            return "cancel_choice" if form.get("choice") == OfferChoice.CANCEL.value else None

        return await act(request, customer_id, "bad_choice", make, danger)

    @routes.post(base + "/lines/{line_id}/cancel")
    async def cancel(request: Request, customer_id: str, line_id: str) -> Response:
        """Cancel a line (after the confirmation step); its refund is the amount quoted."""
        line = _number(line_id)
        return await act(
            request, customer_id, "not_cancellable",
            lambda _: lambda s, w, c: acting.cancel(
                s, c, line, agent=w.username, now=ctx.clock(), policy=ctx.policy
            ),
            lambda _: "cancel_line",
        )  # fmt: skip

    @routes.post(base + "/lines/{line_id}/ship")
    async def ship(request: Request, customer_id: str, line_id: str) -> Response:
        """Ship the line's reserved units; the form's key makes a double submit ship once."""
        line = _number(line_id)

        def make(form: FormData) -> Act:
            key = _field(form.get("key"), 40)
            carrier = _field(form.get("carrier"), 64) or None
            tracking = _field(form.get("tracking"), 64) or None
            return lambda s, w, c: acting.ship_line(
                s, c, line, agent=w.username, now=ctx.clock(),
                idempotency_key=f"dashboard:{c}:{line}:{key}" if key else None,
                carrier=carrier, tracking=tracking,
            )  # fmt: skip

        return await act(request, customer_id, "nothing_to_ship", make)

    @routes.post(base + "/orders/{number}/link/revoke")
    async def revoke_link(request: Request, customer_id: str, number: str) -> Response:
        """Close the order page's link (a leaked link dies; the next message has a new one)."""
        order_number = number.strip().upper()[:64]
        return await act(
            request, customer_id, "not_found",
            lambda _: lambda s, w, c: acting.revoke_link(
                s, c, order_number, agent=w.username, now=ctx.clock()
            ),
            lambda _: "revoke_link",
        )  # fmt: skip

    @routes.post(base + "/orders/{number}/link/resend")
    async def resend_link(request: Request, customer_id: str, number: str) -> Response:
        """Send the order page's live link to the customer again, through the outbox."""
        order_number = number.strip().upper()[:64]
        return await act(
            request, customer_id, "unreachable",
            lambda _: lambda s, w, c: link_resend.resend_link(
                s, c, order_number, agent=w.username, now=ctx.clock(), voice=voice
            ),
        )  # fmt: skip

    @routes.post(base + "/outbox/{outbox_id}/retry")
    async def retry(request: Request, customer_id: str, outbox_id: str) -> Response:
        """Send a failed or unknown message again."""
        row = _number(outbox_id)
        return await act(
            request, customer_id, "not_retryable",
            lambda _: lambda s, w, c: acting.retry_message(
                s, c, row, agent=w.username, now=ctx.clock()
            ),
        )  # fmt: skip

    return routes


async def _run(
    ctx: Context,
    request: Request,
    customer_id: str,
    invalid: str,
    act: Act,
    who: SignedIn,
) -> Response:
    """Run one action in its own transaction and redirect back with its notice."""
    customer = _number(customer_id)
    if not customer:
        return _back(request, customer_id, error="not_found")
    try:
        done = await asyncio.to_thread(ctx.db.transaction, lambda s: act(s, who, customer))
    except NotFound:
        return _back(request, customer_id, error="not_found")
    except (InvalidInput, Conflict):  # a refusal the page words per action; nothing written
        return _back(request, customer_id, error=invalid)
    return _back(request, customer_id, notice=f"{done.action}:{done.outcome}")


def _back(
    request: Request, customer_id: str, *, notice: str | None = None, error: str | None = None
) -> Response:
    target = _number(customer_id)
    path = f"{root_path(request)}{PATH}/customers/{target}" if target else root_path(request) + PATH
    query = f"?done={notice}" if notice else f"?error={error}" if error else ""
    return RedirectResponse(path + query + "#actions", 303, headers=PAGE_HEADERS)


def _number(raw: str) -> int:
    """A path id, or 0 (no row has it) for anything that is not one."""
    value = int(raw) if raw.isascii() and raw.isdigit() and len(raw) <= 10 else 0
    return value if value <= MAX_ID else 0


def _field(value: object, limit: int) -> str:
    return value.strip()[:limit] if isinstance(value, str) else ""
