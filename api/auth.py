"""API-key check for every protected route: `Authorization: Bearer KEY` or `X-API-Key: KEY`.

Keys are compared with `hmac.compare_digest` on bytes, so the time taken says nothing about how much of a
guess was right (and non-ASCII input cannot raise). The presented key is never logged or echoed.
"""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import HTTPException, Request, Security
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from api.deps import app_state

# auto_error=False: a missing header is our 401 with our message, not FastAPI's 403.
_bearer = HTTPBearer(auto_error=False, description="the API key as a bearer token")
_api_key_header = APIKeyHeader(name="X-API-Key", auto_error=False, description="the API key")

CHALLENGE = {"WWW-Authenticate": 'Bearer realm="docsearch"'}


def key_matches(presented: str, expected: str) -> bool:
    return hmac.compare_digest(presented.encode("utf-8"), expected.encode("utf-8"))


def presented_keys(request: Request) -> list[str]:
    """Every key the request presents, read from the raw headers (each repeated header counts).

    FastAPI's parsed values drop an empty `Authorization: Bearer ` or `X-API-Key: ` as if it were absent, so
    a request carrying a right key in one header and an empty one in the other would pass although not all
    its keys match. Here an empty one counts as presented (and wrong). An Authorization header with another
    scheme (e.g. Basic, added by a proxy in front) is not an API key and is left alone.
    """
    keys = list(request.headers.getlist("x-api-key"))
    for value in request.headers.getlist("authorization"):
        scheme, _, token = value.strip().partition(" ")
        if scheme.lower() == "bearer":
            keys.append(token.strip())
    return keys


async def require_api_key(
    request: Request,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Security(_bearer)],
    header_key: Annotated[str | None, Security(_api_key_header)],
) -> None:
    """Dependency for protected routers; a no-op when the server runs without a key.

    `bearer` and `header_key` declare the two schemes in the OpenAPI schema; the check itself reads the raw
    headers (`presented_keys`)."""
    expected = app_state(request).settings.api_key
    if expected is None:
        return
    presented = presented_keys(request)
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
