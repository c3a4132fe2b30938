"""CORS for the origins configured per stage (CORS_ALLOWED_ORIGINS).

Chalice's CORSConfig allows a single origin; browsers of several front ends
need the matching origin echoed back, so the API answers preflights itself
(an OPTIONS route per path, no token needed) and decorates every response.
"""

from __future__ import annotations

from chalice import Response
from chalice.app import Request

from chalicelib.config import settings

ALLOW_HEADERS = "Authorization,Content-Type,If-Match,Idempotency-Key"
EXPOSE_HEADERS = "ETag,Location,Idempotent-Replayed"
PREFLIGHT_MAX_AGE_SECONDS = 600


def allowed_origin(request: Request) -> str | None:
    origin = request.headers.get("origin")
    if origin and origin in settings().cors_allowed_origins:
        return origin
    return None


def decorate(request: Request, response: Response) -> None:
    origin = allowed_origin(request)
    vary = response.headers.get("Vary")
    response.headers["Vary"] = f"{vary}, Origin" if vary else "Origin"
    if origin is None:
        return
    response.headers["Access-Control-Allow-Origin"] = origin
    response.headers["Access-Control-Expose-Headers"] = EXPOSE_HEADERS


def preflight(request: Request, methods: list[str]) -> Response:
    headers: dict[str, str | list[str]] = {}
    if allowed_origin(request):
        headers = {
            "Access-Control-Allow-Methods": ",".join(sorted({*methods, "OPTIONS"})),
            "Access-Control-Allow-Headers": ALLOW_HEADERS,
            "Access-Control-Max-Age": str(PREFLIGHT_MAX_AGE_SECONDS),
        }
    return Response(body="", status_code=204, headers=headers)
