"""API-key check for every protected route: `Authorization: Bearer KEY` or `X-API-Key: KEY`.

Keys are compared with `hmac.compare_digest` on bytes, so the time taken says nothing about how much of a
guess was right (and non-ASCII input cannot raise). The presented key is never logged or echoed.
"""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import HTTPException, Request, Security
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from api.state import app_state

# auto_error=False: a missing header is our 401 with our message, not FastAPI's 403.
_bearer = HTTPBearer(auto_error=False, description="the API key as a bearer token")
_api_key_header = APIKeyHeader(name="X-API-Key", auto_error=False, description="the API key")

CHALLENGE = {"WWW-Authenticate": 'Bearer realm="docsearch"'}


def key_matches(presented: str, expected: str) -> bool:
    return hmac.compare_digest(presented.encode("utf-8"), expected.encode("utf-8"))


async def require_api_key(
    request: Request,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Security(_bearer)],
    header_key: Annotated[str | None, Security(_api_key_header)],
) -> None:
    """Dependency for protected routers; a no-op when the server runs without a key."""
    expected = app_state(request).settings.api_key
    if expected is None:
        return
    presented = [k for k in (bearer.credentials if bearer else None, header_key) if k]
    if not presented:
        raise HTTPException(
            status_code=401,
            detail="Missing API key: send `Authorization: Bearer KEY` or `X-API-Key: KEY`",
            headers=CHALLENGE,
        )
    # Every presented key is checked (no short-circuit), and all of them must match.
    results = [key_matches(k, expected) for k in presented]
    if not all(results):
        raise HTTPException(status_code=401, detail="Invalid API key", headers=CHALLENGE)
