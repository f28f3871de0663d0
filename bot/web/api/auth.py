"""Bearer-token authentication for ``/api``: ``Authorization: Bearer <AGENT_API_TOKEN>``.

The token is compared with ``hmac.compare_digest`` (constant time). A missing or wrong token
is 401 with ``WWW-Authenticate: Bearer``. With no ``AGENT_API_TOKEN`` configured the API is off
and answers 503: refusing everyone is safer than an open API, and 503 tells the operator it is
configuration, not credentials.
"""

import hmac
from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, HTTPException
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import SecretStr

Check = Callable[..., Awaitable[None]]


def bearer_token(token: SecretStr | None) -> Check:
    """A dependency that lets a request through only with the right bearer token."""
    scheme = HTTPBearer(auto_error=False, description="AGENT_API_TOKEN")
    expected = token.get_secret_value().encode() if token is not None else None

    async def check(
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(scheme)],
    ) -> None:
        if expected is None:
            raise HTTPException(
                status_code=503, detail="the JSON API is off: set AGENT_API_TOKEN to enable it"
            )
        given = credentials.credentials.encode() if credentials is not None else b""
        if not hmac.compare_digest(given, expected):
            raise HTTPException(
                status_code=401,
                detail="a valid bearer token is required",
                headers={"WWW-Authenticate": "Bearer"},
            )

    return check
