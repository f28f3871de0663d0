"""The store's refusals as HTTP answers, in FastAPI's own error shapes.

404 for ``NotFound``, 409 for ``Conflict``, and 422 for ``InvalidInput`` in the same
``{"detail": [{"loc": [...], "msg": ..., "type": ...}]}`` shape as request validation, so a
client reads one format for every field-level problem.
"""

from collections.abc import Iterator
from contextlib import contextmanager
from typing import NoReturn

from fastapi import HTTPException

from messaging.broadcast_content import ContentError
from store.errors import Conflict, InvalidInput, NotFound, StoreError


def unprocessable(loc: list[str | int], message: str) -> NoReturn:
    raise HTTPException(
        status_code=422, detail=[{"loc": loc, "msg": message, "type": "value_error"}]
    )


@contextmanager
def refusals(field: list[str | int] | None = None) -> Iterator[None]:
    """Turn store errors raised inside into HTTP errors (the transaction has rolled back)."""
    try:
        yield
    except ContentError as exc:
        unprocessable(["body", exc.field], str(exc))
    except NotFound as exc:
        raise HTTPException(status_code=404, detail=str(exc)) from None
    except Conflict as exc:
        raise HTTPException(status_code=409, detail=str(exc)) from None
    except InvalidInput as exc:
        unprocessable(field or ["body"], str(exc))
    except StoreError as exc:
        raise HTTPException(status_code=400, detail=str(exc)) from None
