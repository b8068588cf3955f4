"""Uploads read into memory under a size limit, and answered 413 over it."""

from __future__ import annotations

from fastapi import Request


class TooLarge(ValueError):
    """An upload over its limit: answered 413."""


async def read_limited(request: Request, limit: int, flag: str) -> bytes:
    """The request's body, refused over `limit` bytes. Read to the end, keeping at most `limit` bytes: a client told 413
    before it finished sending would see a broken pipe instead of the message."""
    data, size = bytearray(), 0
    async for chunk in request.stream():
        size += len(chunk)
        if size <= limit:
            data += chunk
    if size > limit:
        raise TooLarge(f"the uploaded file is larger than the limit of {limit} bytes ({flag})")
    return bytes(data)
