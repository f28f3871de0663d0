"""Reading a request body with a ceiling, before anything parses it."""

from __future__ import annotations

from fastapi import Request

__all__ = ["read_capped"]


async def read_capped(request: Request, limit: int) -> bytes | None:
    """The body, or None when it is (or declares itself) larger than ``limit`` bytes.

    Streamed, so a client that lies about ``Content-Length`` still cannot make us hold more.
    """
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        return None
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)
