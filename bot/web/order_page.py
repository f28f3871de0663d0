"""``/o/<token>``: the customer's private order page, linked from every message about the order.

No login: the token is the key (``store.order_links``). ``GET /o/<token>`` shows the order;
each choice of an open offer is a link to ``GET /o/<token>/confirm``, whose form posts to
``POST /o/<token>``. That POST makes the same ``accept_offer`` call as an SMS or Telegram reply
(``via="web"``), so the notifier queues the same confirmation; a repeated POST changes nothing.

Safety, on every response under ``/o/`` (404, 403 and 429 included):

- unknown, revoked and malformed tokens get one and the same 404, byte for byte, in the shop's
  default language (a page in the customer's language would tell a live token from a dead one);
- the form carries a CSRF token, an HMAC of the link token, the offer and the choice under a key
  derived from ORDER_LINK_SECRET: no cookie is needed, and a POST without it or with a wrong one
  gets 403 and changes nothing. It is checked before the database is asked, so a 403 says
  nothing about whether the token is live;
- requests are limited per token and per client address (:mod:`bot.web.sliding_window`, per
  process) before any look-up; over the limit: 429 with ``Retry-After``;
- ``Cache-Control: no-store``, ``Referrer-Policy: no-referrer`` (the token is in the URL),
  ``X-Content-Type-Options: nosniff`` and a CSP that allows no script at all, styles only from
  ``/o/assets/`` ('self'), forms only to ourselves and no framing.
"""

# No ``from __future__ import annotations`` here: FastAPI evaluates the routes' annotations.
import asyncio
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.settings import Settings
from bot.web.html import WEB_TEMPLATES_DIR, environment
from bot.web.link_pages import (
    LinkGuard,
    PageLimits,
    form_signed,
    html_response,
    security_headers,
    sign_form,
)
from bot.web.ops import WebMetrics
from bot.web.order_page_view import OrderPage, load_order_page
from messaging.notifier import reachable_channel
from messaging.render import locale_chain
from store.db import Database
from store.errors import NotFound
from store.models import Customer, Offer, OfferChoice, OrderLine, utcnow
from store.offers import accept_offer
from store.order_links import PAGE_PATH, find_order_id, subkey
from store.policy import Policy

__all__ = ["PageLimits", "router", "security_headers"]

ROUTE = PAGE_PATH + "{token}"  # the metrics label: never the token itself
CSS_PATH = PAGE_PATH + "assets/page.css"
_DEFAULT_LIMITS = PageLimits()


def router(
    db: Database,
    settings: Settings,
    metrics: WebMetrics,
    *,
    limits: PageLimits = _DEFAULT_LIMITS,
) -> APIRouter:
    """Build the order page's router around this app's database and settings."""
    page = _Pages(db, settings, metrics, limits)
    routes = APIRouter(include_in_schema=False)

    @routes.get(CSS_PATH)
    async def stylesheet() -> Response:
        return page.stylesheet()

    @routes.get(PAGE_PATH + "{token}")
    async def show(request: Request, token: str) -> Response:
        """The order, its timeline and open choices."""
        return await page.show(request, token)

    @routes.get(PAGE_PATH + "{token}/confirm")
    async def confirm(request: Request, token: str) -> Response:
        """One choice, spelled out, with the button that makes it."""
        return await page.confirm(request, token)

    @routes.post(PAGE_PATH + "{token}")
    async def choose(request: Request, token: str) -> Response:
        """Apply a confirmed choice, then show the page again (POST, redirect, GET)."""
        return await page.choose(request, token)

    @routes.api_route(
        PAGE_PATH + "{rest:path}",
        methods=["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"],
    )
    async def anything_else(request: Request, rest: str) -> Response:
        """Every other path or method under /o/: the same 404 as an unknown token."""
        return page.refused_or_not_found(request, rest)

    return routes


class _Pages:
    """The page's handlers, around one app's database, settings, templates and limits."""

    def __init__(
        self, db: Database, settings: Settings, metrics: WebMetrics, limits: PageLimits
    ) -> None:
        self.db = db
        self.metrics = metrics
        self.policy: Policy = settings.policy()
        self.shop = {"shop_name": settings.shop_name, "support_contact": settings.support_contact}
        self.default_locale = settings.default_locale
        self.csrf_key = subkey(settings.order_link_secret_bytes(), "csrf")
        self.guard = LinkGuard(limits, metrics, ROUTE, self._error)
        self.env = environment()
        self.css = (WEB_TEMPLATES_DIR / "order" / "page.css").read_bytes()

    # --- handlers --------------------------------------------------------------------------

    def stylesheet(self) -> Response:
        return Response(self.css, media_type="text/css", headers=security_headers())

    async def show(self, request: Request, token: str) -> Response:
        found = await self._page_or_refusal(request, token)
        if isinstance(found, Response):
            return found
        notice = request.query_params.get("done")
        self.metrics.webhook(ROUTE, "shown")
        return self._page(request, token, found, notice=notice if notice in _NOTICES else None)

    async def confirm(self, request: Request, token: str) -> Response:
        found = await self._page_or_refusal(request, token)
        if isinstance(found, Response):
            return found
        choice = _choice(request.query_params.get("choice"))
        offer = found.open_offer(_int(request.query_params.get("offer")))
        if choice is None or offer is None or not _offers(offer, choice):
            # Decided meanwhile, or a hand-made URL: the page shows what there is to choose.
            return self._redirect(request, token)
        body = self._render(
            "confirm.html",
            found.locale,
            request=request,
            **self._common(request, token, found),
            offer=offer,
            choice=choice.value,
            csrf=self._csrf(token, offer["id"], choice.value),
        )
        return html_response(body)

    async def choose(self, request: Request, token: str) -> Response:
        refused = self.guard.refusal(request, token)
        if refused is not None:
            return refused
        form = await request.form()
        offer_id, choice = _int(_text(form.get("offer"))), _choice(_text(form.get("choice")))
        csrf = _text(form.get("csrf"))
        if choice is None or not self._csrf_ok(token, offer_id, choice.value, csrf):
            self.metrics.webhook(ROUTE, "csrf_refused")
            return self._error(request, 403, "forbidden")
        outcome = await asyncio.to_thread(self._apply, token, offer_id, choice)
        if outcome is None:
            return self.guard.not_found(request)
        self.metrics.webhook(ROUTE, f"choice_{outcome}")
        return self._redirect(request, token, done=outcome)

    def refused_or_not_found(self, request: Request, rest: str) -> Response:
        refused = self.guard.refusal(request, rest.split("/", 1)[0])
        return refused if refused is not None else self.guard.not_found(request)

    # --- database work, in a thread ----------------------------------------------------------

    def _load(self, token: str) -> OrderPage | None:
        with self.db.read_session() as session:
            order_id = find_order_id(session, token)
            if order_id is None:
                return None
            return load_order_page(session, order_id, utcnow())

    def _apply(self, token: str, offer_id: int, choice: OfferChoice) -> str | None:
        """Accept the offer as a reply would; None when the token or offer is not this order's."""
        return self.db.transaction(lambda session: self._apply_in(session, token, offer_id, choice))

    def _apply_in(
        self, session: Session, token: str, offer_id: int, choice: OfferChoice
    ) -> str | None:
        order_id = find_order_id(session, token)
        if order_id is None:
            return None
        offer_order_id = session.scalar(
            select(OrderLine.order_id)
            .join(Offer, Offer.line_id == OrderLine.id)
            .where(Offer.id == offer_id)
        )
        if offer_order_id != order_id:
            return None
        try:
            outcome = accept_offer(
                session, offer_id, choice, via="web", now=utcnow(), policy=self.policy
            )
        except NotFound:
            return None
        if outcome.accepted and outcome.repeated:
            return "repeated"
        if outcome.accepted:
            # The notifier confirms only on a channel that reaches the customer: say nothing
            # about a confirmation to someone opted out everywhere (or with no channel).
            customer = session.get(
                Customer, session.scalar(select(Offer.customer_id).where(Offer.id == offer_id))
            )
            reached = customer is not None and reachable_channel(customer) is not None
            return "accepted" if reached else "accepted_unconfirmed"
        assert outcome.refusal is not None
        return outcome.refusal.value

    # --- responses ----------------------------------------------------------------------------

    async def _page_or_refusal(self, request: Request, token: str) -> OrderPage | Response:
        """The token's order page, or the answer instead: rate limited (429) or unknown (404)."""
        refused = self.guard.refusal(request, token)
        if refused is not None:
            return refused
        found = await asyncio.to_thread(self._load, token)
        return found if found is not None else self.guard.not_found(request)

    def _error(
        self, request: Request, status: int, error: str, headers: dict[str, str] | None = None
    ) -> Response:
        body = self._render("error.html", self.default_locale, request=request, error=error)
        return html_response(body, status=status, headers=headers)

    def _page(
        self, request: Request, token: str, found: OrderPage, *, notice: str | None
    ) -> Response:
        body = self._render(
            "page.html",
            found.locale,
            request=request,
            **self._common(request, token, found),
            notice=notice,
            lines=found.lines,
        )
        return html_response(body)

    def _redirect(self, request: Request, token: str, *, done: str | None = None) -> Response:
        url = _page_path(request, token) + (f"?done={quote(done)}" if done else "")
        return RedirectResponse(url, status_code=303, headers=security_headers())

    def _common(self, request: Request, token: str, found: OrderPage) -> dict[str, Any]:
        return {
            "page_path": _page_path(request, token),
            "order": {"number": found.number, "placed_at": found.placed_at},
            "customer": found.customer,
        }

    def _render(self, name: str, locale: str, /, *, request: Request, **context: Any) -> str:
        """Render ``order/<name>`` with the strings of the first known locale along its chain."""
        strings = self.env.select_template(
            [f"order/strings.{candidate}.html" for candidate in locale_chain(locale)]
        )
        language = strings.name.split(".")[-2] if strings.name else self.default_locale
        context.setdefault("customer", {"name": ""})
        return self.env.get_template(f"order/{name}").render(
            **self.shop,
            **context,
            locale=locale,
            lang=language,
            strings=strings,
            css_path=str(request.scope.get("root_path", "")) + CSS_PATH,
        )

    # --- CSRF ---------------------------------------------------------------------------------

    def _csrf(self, token: str, offer_id: int, choice: str) -> str:
        return sign_form(self.csrf_key, f"{token}\n{offer_id}\n{choice}")

    def _csrf_ok(self, token: str, offer_id: int, choice: str, given: str) -> bool:
        return form_signed(self.csrf_key, f"{token}\n{offer_id}\n{choice}", given)


# What ``?done=`` may say after a choice; anything else is ignored.
_NOTICES = frozenset(
    {
        "accepted",
        "accepted_unconfirmed",
        "repeated",
        "expired",
        "superseded",
        "already_decided",
        "no_alternative",
        "alternative_unavailable",
    }
)


def _page_path(request: Request, token: str) -> str:
    """The page's path, below any prefix a proxy mounts the app under."""
    return str(request.scope.get("root_path", "")) + PAGE_PATH + token


def _offers(offer: dict[str, Any], choice: OfferChoice) -> bool:
    return choice is not OfferChoice.SWITCH or offer["alternative_name"] is not None


def _choice(value: str | None) -> OfferChoice | None:
    if value is None:
        return None
    try:
        return OfferChoice(value)
    except ValueError:
        return None


def _int(value: str | None) -> int:
    """A positive id, or 0 (which matches no row) for anything else."""
    if value is None or not (value.isascii() and value.isdigit()) or len(value) > 18:
        return 0
    return int(value)


def _text(value: object) -> str:
    return value if isinstance(value, str) else ""
