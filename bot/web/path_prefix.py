"""The path prefix a reverse proxy serves the app under (``ROOT_PATH``, ``serve --root-path``).

Set as the ASGI ``root_path`` of every request, so the links and redirects the app writes carry
it. Whether the proxy keeps the prefix in the path (``/bot/agent``) or strips it (``/agent``),
Starlette routes both: it removes ``root_path`` from a path that starts with it. uvicorn's own
``--root-path`` is not used: it prepends the prefix to every path, doubling a kept one.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send


class PathPrefix:
    """ASGI middleware: ``scope["root_path"] = prefix`` for HTTP and WebSocket requests."""

    def __init__(self, app: ASGIApp, prefix: str) -> None:
        self.app = app
        self.prefix = prefix

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.prefix and scope["type"] in ("http", "websocket"):
            scope = {**scope, "root_path": self.prefix}
        await self.app(scope, receive, send)
