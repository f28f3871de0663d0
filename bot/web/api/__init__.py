"""The JSON API under ``/api`` for the shop's systems and agents (OpenAPI at ``/docs``).

Every route needs ``Authorization: Bearer <AGENT_API_TOKEN>`` or an agent's own API token
(``auth``: the latter audits actions under the agent's username). One area per module,
each a router factory around what it needs; each request is one transaction, so a refused
request writes nothing.
"""

from fastapi import APIRouter, Depends

from bot.agents.broadcasts import broadcast_service
from bot.settings import Settings
from bot.web.api import (
    acting,
    analytics,
    auth,
    broadcasts,
    customers,
    inbox,
    orders,
    products,
    refunds,
    shipments,
    stock,
    suppliers,
)
from store.db import Database

PREFIX = "/api"


def router(settings: Settings, db: Database) -> APIRouter:
    """All of ``/api``; the caller includes it with ``prefix=PREFIX``."""
    api = APIRouter(dependencies=[Depends(auth.bearer_token(settings.agent_api_token, db))])
    api.include_router(products.router(settings, db))
    api.include_router(orders.router(settings, db))
    api.include_router(shipments.router(db))
    api.include_router(stock.router(db))
    api.include_router(refunds.router(db))
    api.include_router(broadcasts.router(broadcast_service(settings, db)))
    api.include_router(customers.router(settings, db))
    api.include_router(suppliers.router(settings, db))
    api.include_router(analytics.router(db, settings.default_timezone))
    api.include_router(inbox.router(settings, db))
    api.include_router(acting.router(settings, db))
    return api
