"""``/s/<token>``: a supplier's private page, linked from the e-mail asking for dates.

No login: the token is the key (``store.supplier_requests``). ``GET /s/<token>`` lists the
request's SKUs with the units waiting, the oldest order's age and the shop's current date;
for each the supplier confirms the date, gives a new one or says it is unknown, and may add a
note. ``POST /s/<token>`` applies the answers through the same ``set_eta`` as an agent's
(``source="supplier"``), so customers are told once by the existing rules; the answers are
checked together first, so one bad date saves nothing.

The protections are the order page's (``bot.web.order_page``), on every response under ``/s/``:
one identical 404 for unknown, revoked, expired and malformed tokens (in the shop's default
language); a CSRF token (HMAC of the link token under a key derived from ORDER_LINK_SECRET)
checked before the database is asked, 403 otherwise; limits per token and per client address
before any look-up (429 with ``Retry-After``); the same security headers and a CSP with no
script at all.
"""

# No ``from __future__ import annotations`` here: FastAPI evaluates the routes' annotations.
import asyncio
import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from starlette.datastructures import FormData

from bot.settings import Settings
from bot.suppliers.asking import supplier_link_key
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
from messaging.render import locale_chain
from store.db import Database
from store.errors import InvalidInput, NotFound
from store.models import PurchaseOrderLine, utcnow
from store.order_links import subkey
from store.policy import Policy
from store.supplier_answers import Answer, LineAnswer, answer_request, open_po_lines
from store.supplier_requests import PAGE_PATH, find_open_request
from store.tables_suppliers import SupplierAnswer, SupplierRequest, SupplierRequestItem

__all__ = ["router"]

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
    """Build the supplier page's router around this app's database and settings."""
    page = _SupplierPages(db, settings, metrics, limits)
    routes = APIRouter(include_in_schema=False)

    @routes.get(CSS_PATH)
    async def stylesheet() -> Response:
        return Response(page.css, media_type="text/css", headers=security_headers())

    @routes.get(PAGE_PATH + "{token}")
    async def show(request: Request, token: str) -> Response:
        """The request's SKUs and the form to answer them."""
        return await page.show(request, token)

    @routes.post(PAGE_PATH + "{token}")
    async def answer(request: Request, token: str) -> Response:
        """Apply the supplier's answers, then show the page again (POST, redirect, GET)."""
        return await page.answer(request, token)

    @routes.api_route(
        PAGE_PATH + "{rest:path}",
        methods=["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"],
    )
    async def anything_else(request: Request, rest: str) -> Response:
        """Every other path or method under /s/: the same 404 as an unknown token."""
        refused = page.guard.refusal(request, rest.split("/", 1)[0])
        return refused if refused is not None else page.guard.not_found(request)

    return routes


class _SupplierPages:
    def __init__(
        self, db: Database, settings: Settings, metrics: WebMetrics, limits: PageLimits
    ) -> None:
        self.db = db
        self.metrics = metrics
        self.policy: Policy = settings.policy()
        self.shop = {"shop_name": settings.shop_name, "support_contact": settings.support_contact}
        self.default_locale = settings.default_locale
        self.csrf_key = subkey(supplier_link_key(settings), "csrf")
        self.guard = LinkGuard(limits, metrics, ROUTE, self._error)
        self.env = environment()
        self.css = (WEB_TEMPLATES_DIR / "order" / "page.css").read_bytes() + (
            WEB_TEMPLATES_DIR / "supplier" / "supplier.css"
        ).read_bytes()

    async def show(self, request: Request, token: str) -> Response:
        refused = self.guard.refusal(request, token)
        if refused is not None:
            return refused
        view = await asyncio.to_thread(self._load, token, None)
        if view is None:
            return self.guard.not_found(request)
        notice = request.query_params.get("done")
        view["notice"] = notice if notice == "saved" else None
        self.metrics.webhook(ROUTE, "shown")
        return html_response(self._render("page.html", view["locale"], request, token, view))

    async def answer(self, request: Request, token: str) -> Response:
        refused = self.guard.refusal(request, token)
        if refused is not None:
            return refused
        form = await request.form()
        if not self._csrf_ok(token, _text(form.get("csrf"))):
            self.metrics.webhook(ROUTE, "csrf_refused")
            return self._error(request, 403, "forbidden")
        outcome = await asyncio.to_thread(self._apply, token, form)
        if outcome is None:
            return self.guard.not_found(request)
        if isinstance(outcome, dict):  # refused: the page again, with the problem and the input
            self.metrics.webhook(ROUTE, "answer_refused")
            body = self._render("page.html", outcome["locale"], request, token, outcome)
            return html_response(body, status=422)
        self.metrics.webhook(ROUTE, "answered")
        url = _page_path(request, token) + "?done=saved"
        return RedirectResponse(url, status_code=303, headers=security_headers())

    # --- database work, in a thread ----------------------------------------------------------

    def _load(self, token: str, form: FormData | None) -> dict[str, Any] | None:
        with self.db.read_session() as session:
            request = find_open_request(session, token, utcnow())
            if request is None:
                return None
            return _view(request, open_po_lines(session, request), utcnow(), form)

    def _apply(self, token: str, form: FormData) -> dict[str, Any] | str | None:
        """ "saved", the page's view with the problem when refused, or None for a dead token."""
        try:
            return self.db.transaction(lambda session: self._apply_in(session, token, form))
        except (InvalidInput, NotFound) as exc:
            view = self._load(token, form)
            if view is not None:
                view["problem"] = str(exc)
            return view

    def _apply_in(self, session: Any, token: str, form: FormData) -> str | None:
        now = utcnow()
        request = find_open_request(session, token, now)
        if request is None:
            return None
        po_lines = open_po_lines(session, request)
        answers = _answers(request, form)
        line_answers = _line_answers(request, po_lines, form)
        if not answers and not line_answers:
            raise InvalidInput("choose an answer for at least one item")
        answer_request(
            session,
            request,
            answers,
            _text(form.get("note")),
            now=now,
            policy=self.policy,
            line_answers=line_answers,
        )
        return "saved"

    # --- responses ----------------------------------------------------------------------------

    def _error(
        self, request: Request, status: int, error: str, headers: dict[str, str] | None = None
    ) -> Response:
        body = self._render("error.html", self.default_locale, request, "", {"error": error})
        return html_response(body, status=status, headers=headers)

    def _render(
        self, name: str, locale: str, request: Request, token: str, context: dict[str, Any]
    ) -> str:
        strings = self.env.select_template(
            [f"supplier/strings.{candidate}.html" for candidate in locale_chain(locale)]
        )
        language = strings.name.split(".")[-2] if strings.name else self.default_locale
        context = {**context, "locale": locale}
        return self.env.get_template(f"supplier/{name}").render(
            **self.shop,
            **context,
            lang=language,
            strings=strings,
            page_path=_page_path(request, token),
            csrf=self._csrf(token) if token else "",
            css_path=str(request.scope.get("root_path", "")) + CSS_PATH,
        )

    # --- CSRF ---------------------------------------------------------------------------------

    def _csrf(self, token: str) -> str:
        return sign_form(self.csrf_key, f"supplier-answer\n{token}")

    def _csrf_ok(self, token: str, given: str) -> bool:
        return form_signed(self.csrf_key, f"supplier-answer\n{token}", given)


def _view(
    request: SupplierRequest,
    po_lines: dict[int, list[PurchaseOrderLine]],
    now: dt.datetime,
    form: FormData | None,
) -> dict[str, Any]:
    """What the page shows, as plain data (read in the session, rendered after it)."""
    supplier = request.supplier
    zone = ZoneInfo(supplier.timezone)
    today = now.astimezone(zone).date()
    items = []
    for item in request.items:
        eta = item.product.eta
        chosen = _text(form.get(f"answer_{item.id}")) if form is not None else ""
        typed = _text(form.get(f"eta_{item.id}")) if form is not None else ""
        items.append(
            {
                "po_lines": [
                    _po_line_view(item, line, today, form) for line in po_lines.get(item.id, [])
                ],
                "id": item.id,
                "sku": item.product.sku,
                "name": item.product.name,
                "units_waiting": item.units_waiting,
                "oldest_days": max(0, (now - item.oldest_placed_at).days),
                "eta": eta,
                "eta_passed": eta is not None and eta < today,
                "answered": item.answer.value if item.answer is not None else None,
                "answered_eta": item.answered_eta,
                "chosen": chosen,
                "typed": typed[:10],
            }
        )
    return {
        "locale": supplier.locale,
        "supplier": {"name": supplier.name, "timezone": supplier.timezone},
        "customer": {"name": supplier.name, "timezone": supplier.timezone},
        "today": today,
        "expires_on": request.expires_at.astimezone(zone).date(),
        "items": items,
        "note": _text(form.get("note"))[:2000] if form is not None else (request.note or ""),
        "notice": None,
        "problem": None,
    }


def _po_line_view(
    item: SupplierRequestItem, line: PurchaseOrderLine, today: dt.date, form: FormData | None
) -> dict[str, Any]:
    answered = next((a for a in item.line_answers if a.purchase_order_line_id == line.id), None)
    expected = line.expected_date
    return {
        "id": line.id,
        "reference": line.purchase_order.reference,
        "units_owed": line.quantity - line.received_quantity,
        "expected": expected,
        "expected_passed": expected is not None and expected < today,
        "answered": answered.answer.value if answered is not None else None,
        "answered_eta": answered.answered_eta if answered is not None else None,
        "chosen": _text(form.get(f"answer_po_{line.id}")) if form is not None else "",
        "typed": (_text(form.get(f"eta_po_{line.id}")) if form is not None else "")[:10],
    }


def _answers(request: SupplierRequest, form: FormData) -> list[Answer]:
    """The form's answers; an item left blank is left alone. ``InvalidInput`` for bad values."""
    answers = []
    for item in request.items:
        found = _parsed(form, str(item.id), item.product.sku)
        if found is not None:
            answers.append(Answer(item.id, *found))
    return answers


def _line_answers(
    request: SupplierRequest, po_lines: dict[int, list[PurchaseOrderLine]], form: FormData
) -> list[LineAnswer]:
    """The answers per purchase-order line, for the open lines of the request's SKUs only."""
    answers = []
    for item in request.items:
        for line in po_lines.get(item.id, []):
            label = f"{item.product.sku} ({line.purchase_order.reference})"
            found = _parsed(form, f"po_{line.id}", label)
            if found is not None:
                answers.append(LineAnswer(line.id, *found))
    return answers


def _parsed(form: FormData, key: str, label: str) -> tuple[SupplierAnswer, dt.date | None] | None:
    """The answer in ``answer_<key>`` / ``eta_<key>``; None if left blank."""
    chosen = _text(form.get(f"answer_{key}"))
    typed = _text(form.get(f"eta_{key}")).strip()
    if not chosen and typed:
        chosen = SupplierAnswer.CHANGED.value  # a date typed without ticking "new date"
    if not chosen:
        return None
    try:
        kind = SupplierAnswer(chosen)
    except ValueError:
        raise InvalidInput(f"{label}: unknown answer") from None
    if kind is not SupplierAnswer.CHANGED:
        return kind, None
    try:
        return kind, dt.date.fromisoformat(typed)
    except ValueError:
        raise InvalidInput(
            f"{label}: give the new date as YYYY-MM-DD", field=f"eta_{key}"
        ) from None


def _page_path(request: Request, token: str) -> str:
    return str(request.scope.get("root_path", "")) + PAGE_PATH + token


def _text(value: object) -> str:
    return value if isinstance(value, str) else ""
