"""What the broadcast preview says besides the counts: filters naming nothing, and texts that
some customers would get in a mix of languages.

A SKU or supplier filter that names nothing matches nobody, and "0 of 0 matching customers"
reads like an audience that happens to be empty; the composer says the name is unknown instead.
A broadcast in the agent's own text with no Spanish version sends Spanish speakers that text
inside the shop's Spanish wording (greeting, opt-out line): the preview warns before sending.
"""

from __future__ import annotations

from babel import Locale
from sqlalchemy import select
from sqlalchemy.orm import Session

from messaging.broadcasts import BroadcastRequest, Tally
from messaging.render import DEFAULT_LOCALE
from store.customers import SUPPORTED_LOCALES
from store.models import Product, Supplier


def unknown_names(session: Session, request: BroadcastRequest) -> dict[str, str]:
    """Form errors for a SKU or supplier that no product or supplier has."""
    errors: dict[str, str] = {}
    sku, supplier = request.filters.sku, request.filters.supplier
    if sku is not None and session.scalar(select(Product.id).where(Product.sku == sku)) is None:
        errors["sku"] = f"no product has the SKU {sku!r}: check it on the board"
    if supplier is not None and (
        session.scalar(select(Supplier.id).where(Supplier.name == supplier)) is None
    ):
        errors["supplier"] = f"no supplier is called {supplier!r}"
    return errors


def language_warnings(request: BroadcastRequest, tally: Tally) -> list[str]:
    """One warning per language whose speakers would get the default-language text."""
    if request.text is None:
        return []  # a library template has every language
    warnings = []
    for locale in SUPPORTED_LOCALES:
        if locale == DEFAULT_LOCALE or locale in request.translations:
            continue
        # by_locale counts customers' own tags: "es" also covers "es-MX".
        speakers = sum(
            n for tag, n in tally.by_locale.items() if tag.split("-")[0].lower() == locale
        )
        if speakers:
            warnings.append(_warning(locale, speakers))
    return warnings


def _warning(locale: str, speakers: int) -> str:
    names = Locale("en").languages  # the dashboard is in English
    language, default = names.get(locale, locale), names.get(DEFAULT_LOCALE, DEFAULT_LOCALE)
    who = f"{speakers} {language}-speaking customer{'s' if speakers != 1 else ''}"
    return (
        f"{who} would get your {default} text inside the shop's {language} wording, a mix "
        f"of two languages; add a {language} text or pick a library template"
    )
