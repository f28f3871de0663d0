"""``/api/suppliers``: supplier contacts (where the shop asks for dates) and who is not answering.

Contacts go through ``store.suppliers`` (the same checks as the catalog CSV and the dashboard);
a bad e-mail, phone, language or zone is a 422 naming the field, and nothing is written.
"""

import asyncio
from typing import Annotated, Any

from fastapi import APIRouter, Path
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from bot.settings import Settings
from bot.web.api.errors import ApiRoute, refusals
from store.db import Database
from store.models import utcnow
from store.supplier_requests import not_answering
from store.suppliers import ContactData, set_contact, supplier_record, supplier_records

SupplierName = Annotated[str, Path(min_length=1, max_length=200)]


class ContactIn(BaseModel):
    """Omitted fields keep their value; an empty string clears e-mail or phone."""

    email: str | None = Field(default=None, max_length=320)
    phone: str | None = Field(default=None, max_length=32)
    telegram_chat_id: int | None = None
    locale: str | None = Field(default=None, max_length=16, description="en or es (es-MX ...)")
    timezone: str | None = Field(default=None, max_length=64, description="IANA, Europe/Madrid")


def router(settings: Settings, db: Database) -> APIRouter:
    routes = APIRouter(tags=["suppliers"], route_class=ApiRoute)

    @routes.get("/suppliers")
    async def list_suppliers() -> list[dict[str, Any]]:
        """Every supplier with its contact and open date request, by name."""

        def read() -> list[dict[str, Any]]:
            with db.read_session() as session:
                return supplier_records(session, utcnow())

        return await asyncio.to_thread(read)

    @routes.put("/suppliers/{name}/contact")
    async def put_contact(name: SupplierName, body: ContactIn) -> dict[str, Any]:
        """Set where and how the supplier is asked for dates (404 for an unknown supplier)."""
        data = ContactData(
            email=body.email,
            phone=body.phone,
            telegram_chat_id=body.telegram_chat_id,
            locale=body.locale,
            timezone=body.timezone,
        )

        def update(session: Session) -> dict[str, Any]:
            supplier = set_contact(
                session, name, data, default_region=settings.default_phone_region
            )
            return supplier_record(supplier, None)

        with refusals():
            return await asyncio.to_thread(db.transaction, update)

    @routes.get("/suppliers/not-answering")
    async def silent() -> list[dict[str, Any]]:
        """Suppliers who answered neither a request for dates nor its reminder."""

        def read() -> list[dict[str, Any]]:
            with db.read_session() as session:
                return [
                    {
                        "supplier": s.supplier,
                        "email": s.email,
                        "asked_at": s.asked_at.isoformat(),
                        "reminded_at": s.reminded_at.isoformat() if s.reminded_at else None,
                        "skus": s.skus,
                    }
                    for s in not_answering(session, utcnow())
                ]

        return await asyncio.to_thread(read)

    return routes
