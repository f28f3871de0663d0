"""The store's refusals as HTTP answers, in FastAPI's own error shapes.

404 for ``NotFound``, 409 for ``Conflict``, and 422 for ``InvalidInput`` in the same
``{"detail": [{"loc": [...], "msg": ..., "type": ...}]}`` shape as request validation, so a
client reads one format for every field-level problem.

Every ``/api`` route is an :class:`ApiRoute`, which adds what no single model can say (found by
fuzzing the API, ``tests/bot/web/test_api_fuzz.py``): a NUL character anywhere in the path,
query or JSON body is 422 on both databases (PostgreSQL cannot store one, SQLite would); a
validation error echoing a lone surrogate is still answered (FastAPI's own handler fails to
encode it: a 500); and a value the database refuses (``DataError``: a number past a column's
range) is 422, never 500. Integers a column stores are bounded by :data:`MAX_INT`.
"""

import json
import logging
from collections.abc import Callable, Coroutine, Iterator
from contextlib import contextmanager
from typing import Any, NoReturn

from fastapi import HTTPException, Request, Response
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from sqlalchemy.exc import DataError

from messaging.broadcast_content import ContentError
from store.errors import Conflict, InvalidInput, NotFound, StoreError

logger = logging.getLogger(__name__)

MAX_INT = 2**31 - 1
"""The largest value of an ``INTEGER`` column on PostgreSQL (SQLite's holds 2**63 - 1)."""

Loc = list[str | int]


class AsciiJSONResponse(JSONResponse):
    """JSON with non-ASCII escaped: a lone surrogate echoed from the input still encodes."""

    def render(self, content: Any) -> bytes:
        return json.dumps(content, ensure_ascii=True, allow_nan=False).encode("ascii")


def _problem(loc: Loc, message: str, kind: str = "value_error") -> Response:
    return AsciiJSONResponse(
        {"detail": [{"loc": loc, "msg": message, "type": kind}]}, status_code=422
    )


def _nul_in(value: Any, loc: Loc) -> Loc | None:
    """Where the first string holding a NUL character is in a parsed JSON value."""
    if isinstance(value, str):
        return loc if "\x00" in value else None
    items: Any = ()
    if isinstance(value, dict):
        items = value.items()
    elif isinstance(value, list):
        items = enumerate(value)
    for key, item in items:
        if isinstance(key, str) and "\x00" in key:
            return [*loc, key]
        found = _nul_in(item, [*loc, key])
        if found is not None:
            return found
    return None


async def _nul_at(request: Request) -> Loc | None:
    for name, value in request.path_params.items():
        if isinstance(value, str) and "\x00" in value:
            return ["path", name]
    for name, value in request.query_params.multi_items():
        if "\x00" in name or "\x00" in value:
            return ["query", name]
    if "json" not in request.headers.get("content-type", ""):
        return None  # FastAPI refuses the body itself
    try:
        body = json.loads(await request.body())
    except (ValueError, RecursionError):
        return None  # FastAPI answers the parse error
    return _nul_in(body, ["body"])


class ApiRoute(APIRoute):
    """An ``/api`` route: NUL refused, validation errors always encodable, DataError is 422."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def route(request: Request) -> Response:
            nul = await _nul_at(request)
            if nul is not None:
                return _problem(nul, "NUL characters are not allowed")
            try:
                return await handler(request)
            except RequestValidationError as exc:
                return AsciiJSONResponse(
                    {"detail": jsonable_encoder(exc.errors())}, status_code=422
                )
            except DataError as exc:
                # The transaction has rolled back; the value was the client's.
                logger.warning("API %s refused by the database: %s", request.url.path, exc.orig)
                return _problem(["body"], "a value is out of the range this field can hold")

        return route


def unprocessable(loc: Loc, message: str) -> NoReturn:
    raise HTTPException(
        status_code=422, detail=[{"loc": loc, "msg": message, "type": "value_error"}]
    )


@contextmanager
def refusals(field: Loc | None = None) -> Iterator[None]:
    """Turn store errors raised inside into HTTP errors (the transaction has rolled back)."""
    try:
        yield
    except ContentError as exc:
        # "translations.es" is the path ["body", "translations", "es"], as pydantic writes it.
        unprocessable(["body", *exc.field.split(".")], str(exc))
    except NotFound as exc:
        raise HTTPException(status_code=404, detail=str(exc)) from None
    except Conflict as exc:
        raise HTTPException(status_code=409, detail=str(exc)) from None
    except InvalidInput as exc:
        unprocessable(["body", exc.field] if exc.field else field or ["body"], str(exc))
    except StoreError as exc:
        raise HTTPException(status_code=400, detail=str(exc)) from None
