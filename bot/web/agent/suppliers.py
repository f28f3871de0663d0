"""``/agent/suppliers``: supplier contacts (where the shop asks for dates), editable, and the
suppliers not answering. Contacts go through ``store.suppliers``, as from the API and the CSV.
POST, redirect, GET; a refused contact is shown on the page and nothing is written.
"""

# No ``from __future__ import annotations``: FastAPI evaluates the routes' annotations.
import asyncio
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from bot.web.agent.auth import PATH, root_path
from bot.web.agent.pages import Context
from bot.web.html import PAGE_HEADERS
from store.errors import InvalidInput, NotFound
from store.supplier_requests import Silent, not_answering
from store.suppliers import ContactData, set_contact, supplier_records

SUPPLIERS_PATH = PATH + "/suppliers"


def router(ctx: Context, default_region: str) -> APIRouter:
    routes = APIRouter()

    @routes.get(SUPPLIERS_PATH)
    async def suppliers(request: Request) -> Response:
        """Every supplier's contact, with its open request and whether it stopped answering."""
        who = await ctx.gate.agent(request)
        records, silent = await asyncio.to_thread(_read, ctx)
        saved = request.query_params.get("saved")
        return ctx.render(
            request,
            who,
            "suppliers.html",
            suppliers=records,
            silent=silent,
            saved=saved,
            error_for=None,
            error=None,
        )

    @routes.post(SUPPLIERS_PATH + "/contact")
    async def save_contact(request: Request) -> Response:
        """Save one supplier's contact (e-mail, phone, language, time zone)."""
        who, form = await ctx.gate.form(request)
        name = _text(form.get("name"))
        data = ContactData(
            email=_text(form.get("email")),
            phone=_text(form.get("phone")),
            locale=_text(form.get("locale")) or None,
            timezone=_text(form.get("timezone")) or None,
        )
        try:
            await asyncio.to_thread(
                ctx.db.transaction,
                lambda session: set_contact(session, name, data, default_region=default_region),
            )
        except (InvalidInput, NotFound) as exc:
            records, silent = await asyncio.to_thread(_read, ctx)
            return ctx.render(
                request, who, "suppliers.html", 422, suppliers=records, silent=silent,
                saved=None, error_for=name, error=str(exc),
            )  # fmt: skip
        location = f"{root_path(request)}{SUPPLIERS_PATH}?saved={quote(name, safe='')}"
        return RedirectResponse(location, 303, headers=PAGE_HEADERS)

    return routes


def _read(ctx: Context) -> tuple[list[dict[str, Any]], list[Silent]]:
    with ctx.db.read_session() as session:
        now = ctx.clock()
        return supplier_records(session, now), not_answering(session, now)


def _text(value: object) -> str:
    return value.strip()[:320] if isinstance(value, str) else ""
