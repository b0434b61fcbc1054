"""Every route an app serves, for tests that must cover all of them (auth, body limits).

Enumerated from the app itself, so that an endpoint added later is covered without editing the tests.
"""

from __future__ import annotations

from typing import Any

from starlette.routing import BaseRoute, Mount

# Path parameters filled with an id that exists in the tests' small indexes.
PATH_PARAMETERS = {"{document_id}": "1", "{passage_id}": "1"}


def flat_routes(app: Any) -> list[BaseRoute]:
    """Every route of the app: FastAPI 0.165 keeps included routers as nested `_IncludedRouter` entries of
    `app.routes`, which `iter_route_contexts` walks; older versions list the routes themselves."""
    try:
        from fastapi.routing import iter_route_contexts
    except ImportError:  # FastAPI before nested router contexts: app.routes is flat already
        return list(app.routes)
    return [context.original_route for context in iter_route_contexts(app.routes)]


def app_routes(app: Any) -> list[tuple[str, str]]:
    """(method, URL) for every route and mount (as GET) of the app, path parameters filled in."""
    out: list[tuple[str, str]] = []
    routes = flat_routes(app)
    for route in routes:
        path = getattr(route, "path", "")
        if isinstance(route, Mount):
            out.append(("GET", path))
            continue
        for name, value in PATH_PARAMETERS.items():
            path = path.replace(name, value)
        assert "{" not in path, f"add the path parameter of {path} to PATH_PARAMETERS"
        methods = sorted(getattr(route, "methods", None) or ())
        assert methods, f"{path}: a kind of route without methods, to be handled here"
        out += [(method, path) for method in methods]
    return out
