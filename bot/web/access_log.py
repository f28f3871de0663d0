"""Keep query strings out of the access log: agents search by phone number
(``/agent/search?q=+14155550101``, ``/api/customers?q=...``), and uvicorn's access log
(``uvicorn.access``, INFO) would print each one. The path stays; the query becomes ``?…``.
"""

from __future__ import annotations

import logging

__all__ = ["DropQueryStrings", "install"]

ACCESS_LOGGER = "uvicorn.access"
_PATH_ARG = 2  # uvicorn's args: client, method, path with query, HTTP version, status


class DropQueryStrings(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if not isinstance(args, tuple) or len(args) <= _PATH_ARG:
            return True
        full = args[_PATH_ARG]
        if isinstance(full, str):
            path, sep, _query = full.partition("?")
            if sep:
                record.args = (*args[:_PATH_ARG], path + "?…", *args[_PATH_ARG + 1 :])
        return True


def install() -> None:
    """Add the filter to uvicorn's access logger, once however often it is called."""
    logger = logging.getLogger(ACCESS_LOGGER)
    if not any(isinstance(f, DropQueryStrings) for f in logger.filters):
        logger.addFilter(DropQueryStrings())
