"""Reading a request body without trusting its size: a webhook or the web chat API never holds more
than its limit in memory, whatever Content-Length says (or does not say)."""

from __future__ import annotations

from fastapi import HTTPException, Request


async def read_limited(request: Request, limit: int, *, message: str = "request too large") -> bytes:
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise HTTPException(413, message)
    body = bytearray()
    async for chunk in request.stream():
        body.extend(chunk)
        if len(body) > limit:
            raise HTTPException(413, message)
    return bytes(body)
