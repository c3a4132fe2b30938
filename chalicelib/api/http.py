"""How a route becomes an endpoint: one wrapper for every view.

A route is declared once as a `RouteSpec` (path, method, operation, models,
statuses). The wrapper authorizes the operation (chalicelib.domain.access),
parses the query string and the JSON body with the spec's models, runs the
view, applies Idempotency-Key on POST, and turns every error into
problem+json. The same specs generate /openapi.json.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from chalice import Chalice, Response
from chalice.app import ChaliceAuthorizer, Request

from chalicelib.config import IDEMPOTENCY_KEY_MAX_CHARS
from chalicelib.domain.access import Access, authorize
from chalicelib.domain.errors import BadRequest, DomainError, UnsupportedMediaType
from chalicelib.observability import logger

JSON_TYPES = ("application/json", "application/merge-patch+json")
# Chalice would answer 415 itself to any Content-Type outside a route's list,
# even on a GET without a body; the wrapper checks it only where a body is read.
ANY_CONTENT_TYPE = ["*/*"]


@dataclass(frozen=True)
class RouteSpec:
    method: str
    path: str
    operation: str | None  # None: public, no token needed
    summary: str
    status: int = 200
    body: str | None = None  # name of a model in chalicelib.api.schemas
    query: str | None = None
    response: str | None = None
    errors: tuple[int, ...] = ()
    headers: tuple[str, ...] = ()  # response headers besides Content-Type


@dataclass
class Reply:
    body: Any = None
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Call:
    """What a view gets: the request, parsed."""

    request: Request
    access: Access | None
    query: Any
    body: Any
    fields_sent: frozenset[str]

    def header(self, name: str) -> str | None:
        return self.request.headers.get(name.lower())


View = Callable[..., Reply]
ROUTES: list[RouteSpec] = []


def _schemas() -> Any:
    from chalicelib.api import schemas

    return schemas


def _parse(request: Request, spec: RouteSpec) -> tuple[Any, Any, frozenset[str]]:
    """Returns (query, body, fields sent in the body); raises a pydantic ValidationError."""
    schemas = _schemas()
    query = None
    params = dict(request.query_params or {})
    if spec.query:
        query = getattr(schemas, spec.query).model_validate(params)
    elif params:
        raise BadRequest("This route takes no query parameters.")
    body = None
    sent: frozenset[str] = frozenset()
    if spec.body:
        content_type = (request.headers.get("content-type") or "application/json").split(";")[0].strip().lower()
        if content_type not in JSON_TYPES:
            raise UnsupportedMediaType("Send the body as application/json.")
        raw = request.raw_body or b""
        if not raw.strip():
            raise BadRequest("A JSON body is required.")
        body = getattr(schemas, spec.body).model_validate_json(raw)
        sent = frozenset(body.model_fields_set)
    elif request.raw_body and request.raw_body.strip():
        raise BadRequest("This route takes no body.")
    return query, body, sent


def _raw_bytes(request: Request) -> bytes:
    raw = request.raw_body or b""
    return raw.encode() if isinstance(raw, str) else raw


def _to_json(body: Any) -> str:
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False)


def _response(reply: dict[str, Any]) -> Response:
    return Response(body=reply["body"], status_code=reply["status"], headers=reply["headers"])


def _run(app: Chalice, spec: RouteSpec, view: View, path_args: dict[str, Any]) -> Response:
    from pydantic import ValidationError

    from chalicelib.api import problems

    request = app.current_request
    assert request is not None
    try:
        access = None
        if spec.operation:
            from chalicelib.api.auth import principal_from_context

            principal = principal_from_context(request.context.get("authorizer") or {})
            access = authorize(principal, spec.operation)
        try:
            query, body, sent = _parse(request, spec)
        except ValidationError as exc:
            return problems.from_pydantic(exc, "query" if spec.query and not spec.body else "body")

        def work() -> dict[str, Any]:
            reply = view(Call(request, access, query, body, sent), **path_args)
            headers = dict(reply.headers)
            payload = ""
            if reply.body is not None:
                headers.setdefault("Content-Type", "application/json")
                payload = _to_json(reply.body)
            return {"status": reply.status, "headers": headers, "body": payload}

        key = request.headers.get("idempotency-key")
        if spec.method == "POST" and key is not None and access is not None:
            if not 1 <= len(key) <= IDEMPOTENCY_KEY_MAX_CHARS or not key.isprintable():
                raise BadRequest(f"Idempotency-Key must be 1 to {IDEMPOTENCY_KEY_MAX_CHARS} printable characters.")
            from chalicelib.idempotency import run_once

            result, replayed = run_once(
                caller=access.principal.sub, method=spec.method, path=request.path,
                key=key, body=_raw_bytes(request), work=work, lambda_context=app.lambda_context,
            )
            if replayed:
                result = {**result, "headers": {**result["headers"], "Idempotent-Replayed": "true"}}
            return _response(result)
        return _response(work())
    except ValidationError as exc:  # raised by a model used inside a view
        return problems.from_pydantic(exc, "body")
    except DomainError as exc:
        return problems.from_error(exc)
    except Exception as exc:
        # Exception messages and tracebacks may quote request data: log the
        # type, the route and where it was raised, never the message.
        tb = exc.__traceback__
        while tb is not None and tb.tb_next is not None:
            tb = tb.tb_next
        where = f"{tb.tb_frame.f_code.co_filename.rsplit('/', 1)[-1]}:{tb.tb_lineno}" if tb else "?"
        logger().error(
            "unhandled error",
            extra={"route": spec.path, "method": spec.method, "error_type": type(exc).__name__, "raised_at": where},
        )
        return problems.problem(500, "The request could not be completed.")


def public_routes() -> frozenset[str]:
    """The route templates that need no token (/health, /openapi.json): the only answers that may be cached."""
    return frozenset(spec.path for spec in ROUTES if spec.operation is None)


def register(app: Chalice, authorizer: ChaliceAuthorizer, routes: list[tuple[RouteSpec, View]]) -> None:
    for spec, view in routes:
        ROUTES.append(spec)

        def endpoint(*, _spec: RouteSpec = spec, _view: View = view, **path_args: Any) -> Response:
            return _run(app, _spec, _view, path_args)

        endpoint.__name__ = (spec.operation or spec.summary).replace(".", "_").replace(" ", "_").lower()
        app.route(
            spec.path,
            methods=[spec.method],
            authorizer=authorizer if spec.operation else None,
            content_types=ANY_CONTENT_TYPE,
            name=f"{spec.method.lower()}_{endpoint.__name__}",
        )(endpoint)

    by_path: dict[str, list[str]] = {}
    for spec, _ in routes:
        by_path.setdefault(spec.path, []).append(spec.method)
    for path, methods in by_path.items():

        def options(*, _methods: list[str] = methods, **_: Any) -> Response:
            from chalicelib.api import cors

            request = app.current_request
            assert request is not None
            return cors.preflight(request, _methods)

        app.route(path, methods=["OPTIONS"], name=f"options_{path}")(options)
