"""Public routes: health and the OpenAPI document."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from chalicelib.api.http import ROUTES as REGISTERED
from chalicelib.api.http import Call, Reply, RouteSpec, View


def health(call: Call[None, None]) -> Reply:
    return Reply({"status": "ok"})


@lru_cache(maxsize=1)
def _document() -> dict[str, Any]:
    from chalicelib.api.openapi import build

    return build(REGISTERED)


def openapi(call: Call[None, None]) -> Reply:
    return Reply({**_document(), "servers": [{"url": stage_prefix(call.request.context) or "/",
                                              "description": "This stage of the API"}]})


def stage_prefix(context: dict[str, Any]) -> str:
    """What comes before the route in the URL the caller used: API Gateway's stage (`/dev`), or a custom
    domain's base path; nothing locally. The request's path ends with its resource path, parameters
    filled in, and /openapi.json has none."""
    path, resource = str(context.get("path") or ""), str(context.get("resourcePath") or "")
    return path[: -len(resource)].rstrip("/") if resource and path.endswith(resource) else ""


def problem_type(call: Call[None, None], slug: str) -> Reply:
    from chalicelib.api import problems
    from chalicelib.domain.errors import NotFound

    found = problems.explanation(slug)
    if found is None:
        raise NotFound("No such problem type: the `type` of an answer of this API always resolves.")
    return Reply(found)


ROUTES: list[tuple[RouteSpec, View]] = [
    (RouteSpec("GET", "/health", None, "Health check", response="Health"), health),
    (RouteSpec("GET", "/openapi.json", None, "This API's OpenAPI 3.1 document"), openapi),
    (RouteSpec("GET", "/problems/{slug}", None, "What a problem `type` means and what to do about it",
               errors=(404,)), problem_type),
]
