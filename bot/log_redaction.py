"""Link tokens out of log lines: the path of a private page is its only key.

``/o/<token>`` opens (and can cancel) an order; ``?start=<token>`` (sent back as
``/start <token>``) links a Telegram chat to a customer. uvicorn's access log prints every
request path with its query at INFO, and any other logger may quote a URL. Unlike configured
secrets (``bot.logging_setup.RedactSecrets``) these tokens are not known in advance, so they are
recognised by where they stand.

The filter rewrites string arguments in place, keeping the record's ``args`` a tuple: uvicorn's
own ``AccessFormatter`` (used when uvicorn configures logging itself) unpacks ``args`` and would
fail on a record whose arguments had been folded into the message.
"""

from __future__ import annotations

import logging
import re

from store.page_paths import ORDER_PAGE_PATH as PAGE_PATH
from store.page_paths import SUPPLIER_PAGE_PATH

__all__ = ["LINK_REDACTED", "RedactLinkTokens", "install_on_access_log", "redact_links"]

LINK_REDACTED = "<redacted>"
# The token is whatever follows the page prefix up to the next separator; the stylesheet under
# the same prefix is no secret and stays readable.
# The order page (/o/) and the supplier page (/s/) alike.
_PAGE = re.compile(
    "(" + "|".join(map(re.escape, (PAGE_PATH, SUPPLIER_PAGE_PATH))) + r")(?!assets/)[^/?#\s\"'<>]+"
)
# Query parameters that carry a one-time or bearer token (Telegram deep links, and any
# ``token=``/``key=`` a future link may use).
_QUERY = re.compile(r"(?i)([?&](?:start|token|key|secret|signature)=)[^&#\s\"'<>]+")
# The same Telegram token as the customer sends it back: python-telegram-bot logs each update it
# processes at DEBUG, text included.
_START = re.compile(r"(/start(?:@\w+)?\s+)[A-Za-z0-9_-]{8,}")
_ACCESS_LOGGERS = ("uvicorn.access",)


def redact_links(text: str) -> str:
    """``text`` with every page token and token-bearing query value replaced."""
    if "/" not in text and "=" not in text:
        return text
    text = _PAGE.sub(r"\1" + LINK_REDACTED, text)
    text = _START.sub(r"\1" + LINK_REDACTED, text)
    return _QUERY.sub(r"\1" + LINK_REDACTED, text)


class RedactLinkTokens(logging.Filter):
    """Replace link tokens in a record's message, arguments and exception text."""

    def filter(self, record: logging.LogRecord) -> bool:
        # Arguments first, the format string untouched: ``/o/%s`` would match the pattern and
        # lose its placeholder.
        if isinstance(record.args, tuple):
            record.args = tuple(redact_links(a) if isinstance(a, str) else a for a in record.args)
        elif isinstance(record.args, dict):
            record.args = {
                k: redact_links(v) if isinstance(v, str) else v for k, v in record.args.items()
            }
        message = record.getMessage()
        scrubbed = redact_links(message)
        if scrubbed != message:  # in the format string itself, or a non-string argument's text
            record.msg, record.args = scrubbed, None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact_links(record.exc_text)
        return True


def install_on_access_log() -> None:
    """Filter the access logger itself, so the tokens go whichever handler prints it.

    A logger's filter runs before any handler, uvicorn's own included (when uvicorn is run with
    its default logging config instead of ``serve``'s); installed once per logger.
    """
    for name in _ACCESS_LOGGERS:
        target = logging.getLogger(name)
        if not any(isinstance(f, RedactLinkTokens) for f in target.filters):
            target.addFilter(RedactLinkTokens())
