"""``backorder-bot customers link-token PHONE``: a link that ties a Telegram chat to a customer.

The shop puts the link in its order confirmation; the customer opens it, Telegram sends
``/start <token>``, and the chat is theirs (``store.telegram_links``). The token is shown once
and stored only as a hash: lost tokens are replaced by issuing another.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated

import typer

from bot.cli.support import context, fail, out, print_json
from store.customers import find_by_phone, normalize_phone
from store.errors import InvalidInput
from store.models import utcnow
from store.telegram_links import DEFAULT_TTL, issue_link_token

app = typer.Typer(help="Customers.", no_args_is_help=True)


@app.command("link-token")
def link_token(
    ctx: typer.Context,
    phone: Annotated[str, typer.Argument(help="The customer's phone number.")],
    days: Annotated[
        int, typer.Option(min=1, max=365, help="Days the link stays valid.")
    ] = DEFAULT_TTL.days,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Issue a one-time Telegram link for the customer with this phone number."""
    c = context(ctx)
    try:
        number = normalize_phone(phone, c.settings.default_phone_region)
    except InvalidInput as exc:
        fail(str(exc), code=2)
    now = utcnow()
    with c.database().session() as session:
        customer = find_by_phone(session, number)
        if customer is None:
            fail(f"no customer has the phone number {number}")
        token = issue_link_token(session, customer.id, now, dt.timedelta(days=days))
        customer_id = customer.id
    username = c.settings.telegram_bot_username
    link = f"https://t.me/{username.lstrip('@')}?start={token}" if username else None
    expires_at = now + dt.timedelta(days=days)
    if as_json:
        print_json(
            {"customer_id": customer_id, "token": token, "link": link, "expires_at": expires_at}
        )
        return
    if link is not None:
        out.print(link, highlight=False, soft_wrap=True)
    else:
        out.print(f"/start {token}", highlight=False, soft_wrap=True)
        out.print(
            "(set TELEGRAM_BOT_USERNAME to get a t.me link; until then, the customer sends the"
            " line above to the bot)",
            highlight=False,
        )
    out.print(f"valid until {expires_at:%Y-%m-%d %H:%M} UTC, once", highlight=False)
