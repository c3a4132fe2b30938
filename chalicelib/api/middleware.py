"""The one HTTP middleware: body limit, CORS, problem+json for Chalice's own
errors, no caching of anything but the public routes, a structured access log
line and request metrics.

The access log names the route template (`/customers/{customer_id}`), never
the path or query string, which can carry phone numbers, emails or names.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from chalice import Response
from chalice.app import Request

from chalicelib.api import cors
from chalicelib.api.http import public_routes
from chalicelib.api.problems import PROBLEM_JSON, problem
from chalicelib.config import MAX_BODY_BYTES
from chalicelib.observability import count, logger, metrics

CONSOLE_ASSETS = "/console/static/{name}"  # content-hashed names: cached for a year (chalicelib/console/frame.py)
_CHALICE_DETAILS = {
    405: "This method is not allowed on this resource.",
    415: "Send the body as application/json.",
    500: "The request could not be completed.",
}


def _normalized(response: Response) -> Response:
    """Chalice answers 405/415/500 itself with {"Code", "Message"}: give them our shape."""
    if response.status_code < 400:
        return response
    content_type = str({k.lower(): v for k, v in response.headers.items()}.get("content-type", ""))
    if content_type.startswith((PROBLEM_JSON, "text/html")):  # the console answers its errors as pages
        return response
    keep = {k: str(v) for k, v in response.headers.items() if k.lower() == "allow"}
    detail = _CHALICE_DETAILS.get(response.status_code, "The request could not be completed.")
    return problem(response.status_code, detail, headers=keep)


def _body_size(request: Request) -> int:
    try:
        return len(request.raw_body or b"")
    except Exception:  # an undecodable base64 body counts as too odd to serve
        return MAX_BODY_BYTES + 1


def http_middleware(event: Request, get_response: Callable[[Request], Response]) -> Response:
    log = logger()
    ctx = event.context or {}
    log.set_correlation_id(ctx.get("requestId"))
    route = ctx.get("resourcePath", "unknown")
    started = time.perf_counter()
    if _body_size(event) > MAX_BODY_BYTES:
        response = problem(413, f"The body is larger than {MAX_BODY_BYTES // 1024} KB.")
    else:
        response = _normalized(get_response(event))
    cors.decorate(event, response)
    if route not in public_routes() and route != CONSOLE_ASSETS:
        # Answers can hold personal data (and errors say what exists): no browser or proxy keeps them.
        response.headers["Cache-Control"] = "no-store"
        response.headers["Pragma"] = "no-cache"
    elapsed_ms = round((time.perf_counter() - started) * 1000, 1)
    log.info(
        "request",
        extra={"method": event.method, "route": route, "status": response.status_code, "duration_ms": elapsed_ms},
    )
    m = metrics()
    m.add_dimension(name="route", value=f"{event.method} {route}")
    count("Requests")
    if response.status_code >= 500:
        count("ServerErrors")
    elif response.status_code >= 400:
        count("ClientErrors")
    m.flush_metrics()
    return response
