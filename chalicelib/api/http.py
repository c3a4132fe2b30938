"""How a route becomes an endpoint: one wrapper for every view.

A route is declared once, as a `RouteSpec` (method, path, operation, statuses,
response model) and its view, a function of a typed `Call[Body, Query]`. The
view's annotation names its request models; they live beside the routes, in
the capability's models module (`chalicelib/api/<capability>_models.py`,
found by the view's module name), which is imported when one of its routes is
first called (pydantic and the models cost cold-start time). The wrapper
authorizes the operation (chalicelib.domain.access), parses the query string
and the JSON body with those models, runs the view, applies Idempotency-Key
on POST, and turns every error into problem+json. The same declarations
generate /openapi.json.
"""

from __future__ import annotations

import importlib
import json
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from types import ModuleType, NoneType
from typing import Any, Generic, TypeVar, get_args, get_type_hints

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
    response: str | None = None  # for /openapi.json: a model of the capability's models module by name, or `<module>:<name>`
    errors: tuple[int, ...] = ()
    headers: tuple[str, ...] = ()  # response headers besides Content-Type
    accepted: str | None = None  # a model it may answer with 202 instead (work going on in the background)


@dataclass
class Reply:
    body: Any = None
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)


BodyT = TypeVar("BodyT")
QueryT = TypeVar("QueryT")


@dataclass
class Call(Generic[BodyT, QueryT]):
    """What a view gets: the request, parsed into its body and query models (None: the route takes none)."""

    request: Request
    access: Access | None  # None on public routes only
    query: QueryT
    body: BodyT

    @property
    def caller(self) -> Access:
        """Who is calling, and what they may do in this operation (every route with an operation has one)."""
        if self.access is None:
            raise RuntimeError("a public route has no caller")
        return self.access

    def header(self, name: str) -> str | None:
        return self.request.headers.get(name.lower())


View = Callable[..., Reply]
ROUTES: list[tuple[RouteSpec, View]] = []


@dataclass(frozen=True)
class Models:
    """A view's request models, read from its `Call[Body, Query]` annotation (None: the route takes none)."""

    body: Any  # a pydantic model class, or None
    query: Any


def capability_models(view: View) -> ModuleType:
    """The models module beside the view's routes (`<its module>_models`)."""
    return importlib.import_module(f"{view.__module__}_models")


@cache
def models_of(view: View) -> Models:
    """Resolves the view's annotation. A view that takes neither body nor query (`Call[None, None]`) needs
    no models, and its request imports none (nor pydantic); any other imports its capability's models and
    resolves the names against them and the shared ones (chalicelib/api/models.py)."""
    try:
        hints = get_type_hints(view)
    except NameError:  # names a model, which only the models module defines at run time
        shared = importlib.import_module("chalicelib.api.models")  # PageQuery and the like, for every capability
        hints = get_type_hints(view, localns={**vars(shared), **vars(capability_models(view))})
    body, query = get_args(hints["call"])
    return Models(None if body is NoneType else body, None if query is NoneType else query)


def _parse(request: Request, view: View) -> tuple[Any, Any]:
    """Returns (query, body) as the view's models; raises a pydantic ValidationError."""
    models = models_of(view)
    query = None
    params = dict(request.query_params or {})
    if models.query is not None:
        query = models.query.model_validate(params)
    elif params:
        raise BadRequest("This route takes no query parameters.")
    body = None
    if models.body is not None:
        content_type = (request.headers.get("content-type") or "application/json").split(";")[0].strip().lower()
        if content_type not in JSON_TYPES:
            raise UnsupportedMediaType("Send the body as application/json.")
        raw = request.raw_body or b""
        if not raw.strip():
            raise BadRequest("A JSON body is required.")
        body = models.body.model_validate_json(raw)
    elif request.raw_body and request.raw_body.strip():
        raise BadRequest("This route takes no body.")
    return query, body


def _raw_bytes(request: Request) -> bytes:
    raw = request.raw_body or b""
    return raw.encode() if isinstance(raw, str) else raw


def _to_json(body: Any) -> str:
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False)


def _response(reply: dict[str, Any]) -> Response:
    return Response(body=reply["body"], status_code=reply["status"], headers=reply["headers"])


def _invalid(error: Exception) -> bool:
    """A pydantic ValidationError, without importing pydantic: a request that validated nothing has none."""
    pydantic = sys.modules.get("pydantic")
    return pydantic is not None and isinstance(error, pydantic.ValidationError)


def _run(app: Chalice, spec: RouteSpec, view: View, path_args: dict[str, Any]) -> Response:
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
            query, body = _parse(request, view)
        except Exception as exc:
            if not _invalid(exc):
                raise
            models = models_of(view)
            return problems.from_pydantic(exc, "query" if models.query is not None and models.body is None else "body")

        def work() -> dict[str, Any]:
            reply = view(Call(request, access, query, body), **path_args)
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
    except DomainError as exc:
        return problems.from_error(exc)
    except Exception as exc:
        if _invalid(exc):  # raised by a model used inside a view
            return problems.from_pydantic(exc, "body")
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
    return frozenset(spec.path for spec, _ in ROUTES if spec.operation is None)


def register(app: Chalice, authorizer: ChaliceAuthorizer, routes: list[tuple[RouteSpec, View]]) -> None:
    for spec, view in routes:
        ROUTES.append((spec, view))

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
