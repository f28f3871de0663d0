"""Bearer-token authentication for ``/api``, and who the caller is.

Two kinds of token open the API:

- the shop's ``AGENT_API_TOKEN`` (the shop's systems): its actions are audited as ``api``;
- an agent's own token (``store.api_tokens``, issued by an admin, ``bbt_...``): its actions are
  audited under that agent's verified username. A revoked token, or a disabled agent's, is 401.

The shop token is compared with ``hmac.compare_digest`` (constant time); an agent token is
looked up by its SHA-256. A missing or wrong token is 401 with ``WWW-Authenticate: Bearer``.
With no ``AGENT_API_TOKEN`` configured the API is off and answers 503 (agents' tokens too):
refusing everyone is safer than an open API, and 503 tells the operator it is configuration,
not credentials. :func:`caller` is the dependency a route takes to learn who acts.
"""

import asyncio
import hmac
from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import SecretStr

from store import api_tokens
from store.db import Database
from store.models import utcnow

Check = Callable[..., Awaitable[None]]
SHOP = "api"  # the audit log's name for the shop-wide token


def bearer_token(token: SecretStr | None, db: Database) -> Check:
    """A dependency that lets a request through only with a valid token, and records on the
    request who it is (:func:`caller`)."""
    scheme = HTTPBearer(auto_error=False, description="AGENT_API_TOKEN or an agent's API token")
    expected = token.get_secret_value().encode() if token is not None else None

    async def check(
        request: Request,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(scheme)],
    ) -> None:
        if expected is None:
            raise HTTPException(
                status_code=503, detail="the JSON API is off: set AGENT_API_TOKEN to enable it"
            )
        given = credentials.credentials if credentials is not None else ""
        if hmac.compare_digest(given.encode("utf-8", "replace"), expected):
            request.state.api_agent = None
            return
        agent = await asyncio.to_thread(_agent_of, db, given)
        if agent is None:
            raise HTTPException(
                status_code=401,
                detail="a valid bearer token is required",
                headers={"WWW-Authenticate": "Bearer"},
            )
        request.state.api_agent = agent

    return check


def _agent_of(db: Database, token: str) -> str | None:
    if not token.startswith(api_tokens.TOKEN_PREFIX):
        return None  # not worth a database round trip (and a write lock on SQLite)
    return db.transaction(lambda session: api_tokens.verify(session, token, now=utcnow()))


def caller(request: Request) -> str | None:
    """The verified agent behind this request's token, or None for the shop's token."""
    agent = getattr(request.state, "api_agent", None)
    return agent if isinstance(agent, str) else None


Caller = Annotated[str | None, Depends(caller)]
