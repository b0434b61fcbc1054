"""Who is calling: an API key (`Authorization: Bearer KEY` or `X-API-Key: KEY`), and, behind a trusted proxy,
the user's groups in a header.

Keys are compared with `hmac.compare_digest` on bytes (the single key) or on their SHA-256 (the keys file,
search/access/identities.py), so the time taken says nothing about how much of a guess was right (and non-ASCII
input cannot raise). The presented key is never logged or echoed.

The caller's identity decides which documents every route may read (api/deps.py `get_state` hands routes a
view of the index limited to its groups). Identities:
- the single key (INDEXER_API_KEY, --api-key-file), and a server without any key: every document;
- a key of the keys file: its groups and `all`;
- the trusted groups header, believed only from the configured proxy addresses (a request carrying it from
  anywhere else is refused): its groups and `all`, never more than the key the proxy presents allows.
"""

from __future__ import annotations

import hmac
import ipaddress
from typing import TYPE_CHECKING, Annotated

from fastapi import HTTPException, Request, Security
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from search.access.identities import EVERYTHING, NAME, Identity
from search.access.rules import AccessRulesError, check_groups
from search.access.scope import caller_groups
from search.storage.schema import ALL_GROUP

if TYPE_CHECKING:
    from api.settings import ApiSettings

# auto_error=False: a missing header is our 401 with our message, not FastAPI's 403.
_bearer = HTTPBearer(auto_error=False, description="the API key as a bearer token")
_api_key_header = APIKeyHeader(name="X-API-Key", auto_error=False, description="the API key")

CHALLENGE = {"WWW-Authenticate": 'Bearer realm="docsearch"'}
ANONYMOUS_BEHIND_PROXY = Identity("anonymous", (ALL_GROUP,))
"""A request without key and without the groups header, once the header is configured: `all` only."""


def key_matches(presented: str, expected: str) -> bool:
    return hmac.compare_digest(presented.encode("utf-8", "surrogatepass"), expected.encode("utf-8", "surrogatepass"))


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


def _settings(request: Request) -> ApiSettings:
    settings: ApiSettings = request.app.state.docsearch.settings
    return settings


def identify(request: Request) -> Identity:
    """The caller of this request (computed once per request); 401 or 403 when it cannot be established."""
    cached = getattr(request.state, "docsearch_identity", None)
    if isinstance(cached, Identity):
        return cached
    settings = _settings(request)
    identity = _proxy_identity(request, settings, _key_identity(request, settings))
    request.state.docsearch_identity = identity
    return identity


def _key_identity(request: Request, settings: ApiSettings) -> Identity:
    if not settings.authenticates:
        return ANONYMOUS_BEHIND_PROXY if settings.trusted_groups_header else EVERYTHING
    presented = presented_keys(request)
    if not presented:
        raise HTTPException(
            status_code=401,
            detail="Missing API key: send `Authorization: Bearer KEY` or `X-API-Key: KEY`",
            headers=CHALLENGE,
        )
    # Every presented key is checked (no short-circuit); all of them must match, and the same identity.
    found = [_match(key, settings) for key in presented]
    if any(identity is None for identity in found) or len(set(found)) != 1:
        raise HTTPException(status_code=401, detail="Invalid API key", headers=CHALLENGE)
    identity = found[0]
    assert identity is not None
    return identity


def _match(key: str, settings: ApiSettings) -> Identity | None:
    """The identity of one key: a key of the keys file before the single key (the narrower one wins)."""
    single = settings.api_key is not None and key_matches(key, settings.api_key)
    named = settings.api_keys.find(key) if settings.api_keys is not None else None
    return named or (EVERYTHING if single else None)


def _proxy_identity(request: Request, settings: ApiSettings, identity: Identity) -> Identity:
    """The groups a trusted proxy passes for its user, within what the proxy's own key allows."""
    header = settings.trusted_groups_header
    if not header:
        return identity
    values = request.headers.getlist(header)
    if not values:
        return identity
    client = request.client.host if request.client else ""
    if not _is_trusted(client, settings):
        raise HTTPException(status_code=403, detail=f"The {header} header is accepted only from the configured proxies")
    if len(values) != 1:
        raise HTTPException(status_code=400, detail=f"Give the {header} header once")
    try:
        groups = check_groups([g.strip() for g in values[0].split(",") if g.strip()], f"the {header} header")
    except AccessRulesError as exc:
        raise HTTPException(status_code=400, detail=str(exc)) from exc
    user = request.headers.get(settings.trusted_user_header, "").strip() if settings.trusted_user_header else ""
    if user and not NAME.fullmatch(user):
        raise HTTPException(status_code=400, detail=f"The {settings.trusted_user_header} header is not a user name")
    allowed = caller_groups(groups)
    if identity.groups is not None and allowed is not None:
        allowed = tuple(sorted(set(allowed) & set(identity.groups)))
    return Identity(user or f"{identity.name} (proxy)", allowed)


def _is_trusted(client: str, settings: ApiSettings) -> bool:
    try:
        address = ipaddress.ip_address(client)
    except ValueError:
        return False
    return any(address in network for network in settings.trusted_proxies)


async def require_api_key(
    request: Request,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Security(_bearer)],
    header_key: Annotated[str | None, Security(_api_key_header)],
) -> None:
    """Dependency for protected routers: establishes the caller (`identify`) or answers 401/403.

    `bearer` and `header_key` declare the two schemes in the OpenAPI schema; the check itself reads the raw
    headers (`presented_keys`)."""
    identify(request)
