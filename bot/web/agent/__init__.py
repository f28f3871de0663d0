"""``/agent``: the support agents' dashboard, server-rendered, no front-end build.

Pages: sign-in (:mod:`.auth`), the backorder board with the offer-outcome chart, a SKU's page
with the edit-ETA form (:mod:`.pages`), the broadcast composer, preview, confirm and progress
(:mod:`.broadcasts`), search and a customer's page with their timeline (:mod:`.customers`),
the analytics with its SVG charts and CSV links (:mod:`.analytics`).
the inbox and replies by hand (:mod:`.inbox`).
Sessions are signed, expiring cookies (:mod:`.session`); every POST form carries the session's
CSRF token and is refused with 403 without it, before anything is written. Pages send
:data:`bot.web.html.PAGE_HEADERS`: the CSP allows only this router's own style sheet and
script, no inline code.
"""

import datetime as dt
from collections.abc import Callable
from zoneinfo import ZoneInfo

from fastapi import APIRouter

from bot.agents.broadcasts import broadcast_service
from bot.settings import Settings
from bot.web.agent import (
    account,
    actions,
    admin,
    analytics,
    api_tokens,
    auth,
    broadcasts,
    confirm,
    customers,
    inbox,
    logs,
    pages,
    suppliers,
)
from bot.web.agent.session import SessionSigner, session_key
from bot.web.ops import WebMetrics
from bot.wiring import shop_voice
from messaging.broadcasts import BroadcastService
from store.db import Database
from store.models import utcnow

PATH = auth.PATH

__all__ = ["PATH", "router"]


def router(
    settings: Settings,
    db: Database,
    metrics: WebMetrics,
    *,
    service: BroadcastService | None = None,
    clock: Callable[[], dt.datetime] = utcnow,
) -> APIRouter:
    """Every dashboard route, around this app's database and its broadcast service (built from
    the settings unless given, as ``/api`` builds its own)."""
    service = service or broadcast_service(settings, db)
    secure = (settings.public_base_url or "").startswith("https://")
    gate = auth.Gate(
        db,
        SessionSigner(session_key(settings)),
        secure=secure,
        clock=clock,
        metrics=metrics,
        root_path=settings.root_path,
    )
    ctx = pages.Context(
        db,
        gate,
        settings.shop_name,
        settings.policy(),
        clock,
        ZoneInfo(settings.default_timezone),
        inbox_counts=inbox.counts_for(db),
    )
    routes = APIRouter(include_in_schema=False)
    routes.include_router(auth.router(gate, settings.shop_name))
    routes.include_router(pages.router(ctx))
    routes.include_router(broadcasts.router(ctx, service))
    routes.include_router(customers.router(ctx, settings.default_phone_region))
    routes.include_router(suppliers.router(ctx, settings.default_phone_region))
    routes.include_router(analytics.router(ctx))
    routes.include_router(inbox.router(ctx))
    routes.include_router(actions.router(ctx, shop_voice(settings)))
    routes.include_router(admin.router(ctx))
    routes.include_router(logs.router(ctx))
    routes.include_router(confirm.router(ctx))
    routes.include_router(account.router(ctx))
    routes.include_router(api_tokens.router(ctx))
    return routes
