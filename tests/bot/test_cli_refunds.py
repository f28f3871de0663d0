"""``backorder-bot refunds list|settle`` (issue 12 item 2)."""

import json

from store.db import Database
from store.models import OfferChoice
from store.offers import accept_offer
from store.policy import DEFAULT_POLICY
from tests import factories as f
from tests.bot.test_cli import _run, cli_env  # noqa: F401 (fixture)
from tests.factories import NOW


def test_refunds_are_listed_until_settled(cli_env: Database) -> None:  # noqa: F811
    with cli_env.session() as session:
        f.product(session, "MUG", stock=0, price_cents=1_250)
        line = f.order(session, "A1", [("MUG", 2)]).lines[0]
        accept_offer(
            session,
            line.offers[0].id,
            OfferChoice.CANCEL,
            via="sms",
            now=NOW,
            policy=DEFAULT_POLICY,
        )
    listed = _run("refunds", "list")
    assert listed.exit_code == 0
    assert "25.00 USD" in listed.output
    assert "due" in listed.output
    (due,) = json.loads(_run("refunds", "list", "--json").stdout)
    settled = _run("refunds", "settle", str(due["id"]), "--reference", "re_1")
    assert settled.exit_code == 0
    assert "is settled" in settled.output
    assert "No refunds due." in _run("refunds", "list").output
    assert _run("refunds", "settle", str(due["id"]), "--reference", "re_2").exit_code == 1
    assert _run("refunds", "settle", "424242").exit_code == 1
