"""Server-rendered pages: one Jinja2 environment for ``templates/web`` and the headers every
page sends.

HTML is autoescaped; pages load their CSS and scripts from files served by their own router
(never inline), so the Content-Security-Policy can forbid inline code outright.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from messaging.render import ENVIRONMENT as MESSAGE_ENVIRONMENT
from messaging.render import TEMPLATES_DIR

__all__ = ["PAGE_HEADERS", "WEB_TEMPLATES_DIR", "environment", "page"]

WEB_TEMPLATES_DIR = TEMPLATES_DIR / "web"

PAGE_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
        "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


@lru_cache(maxsize=1)
def environment() -> Environment:
    """The environment of templates/web (pages, and the agents' Telegram replies), built once."""
    env = Environment(
        loader=FileSystemLoader(WEB_TEMPLATES_DIR),
        undefined=StrictUndefined,
        autoescape=select_autoescape(enabled_extensions=("html",), default=True),
        trim_blocks=True,
        lstrip_blocks=True,
        auto_reload=False,
    )
    # Dates, amounts and names read the same on a page as in the messages about them.
    for name in ("date", "time", "money", "first_name"):
        env.filters[name] = MESSAGE_ENVIRONMENT.filters[name]
    return env


def page(template: str, status_code: int = 200, /, **context: Any) -> HTMLResponse:
    """Render ``templates/web/<template>`` with the page headers."""
    html = environment().get_template(template).render(**context)
    return HTMLResponse(html, status_code=status_code, headers=PAGE_HEADERS)
