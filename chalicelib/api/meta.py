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
    return Reply(_document())


ROUTES: list[tuple[RouteSpec, View]] = [
    (RouteSpec("GET", "/health", None, "Health check", response="Health"), health),
    (RouteSpec("GET", "/openapi.json", None, "This API's OpenAPI 3.1 document"), openapi),
]
