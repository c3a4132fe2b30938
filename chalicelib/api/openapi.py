"""OpenAPI 3.1 from the route declarations and the pydantic models that validate requests."""

from __future__ import annotations

import importlib
import re
from types import ModuleType
from typing import Any

from chalicelib.api.http import RouteSpec, View, capability_models, models_of
from chalicelib.api.models import Problem
from chalicelib.api.problems import PROBLEM_JSON, STATUSES

REF = "#/components/schemas/{model}"


def _schema(model: Any, components: dict[str, Any], mode: str) -> dict[str, Any]:
    schema = model.model_json_schema(ref_template=REF, mode=mode)
    for name, definition in schema.pop("$defs", {}).items():
        components.setdefault(name, _absent_not_null(definition))
    components[model.__name__] = _absent_not_null(schema)
    return {"$ref": REF.format(model=model.__name__)}


def _absent_not_null(schema: dict[str, Any]) -> dict[str, Any]:
    """A patch field that may be left out but not sent as null (a patch's `name`) has the default None
    in its model, which pydantic writes into the schema as `"default": null` against a type that has no
    null: a default the schema itself refuses. Left out, it means "unchanged", so no default is said."""
    for prop in schema.get("properties", {}).values():
        if "default" in prop and prop["default"] is None and "type" in prop and "null" not in prop["type"]:
            del prop["default"]
    return schema


def _query_parameters(model: Any, components: dict[str, Any]) -> list[dict[str, Any]]:
    schema = model.model_json_schema(ref_template=REF, mode="validation")
    for name, definition in schema.pop("$defs", {}).items():
        components.setdefault(name, definition)
    required = set(schema.get("required", []))
    return [
        {"name": name, "in": "query", "required": name in required, "schema": prop}
        for name, prop in schema.get("properties", {}).items()
    ]


def _response_model(name: str, capability_models: ModuleType) -> Any:
    """A model of the route's own capability by name, or of another one as `<module>:<name>`
    (e.g. `customers_models:CustomerOut`, for a route that answers with a customer)."""
    module_name, _, model_name = name.rpartition(":")
    module = importlib.import_module(f"chalicelib.api.{module_name}") if module_name else capability_models
    return getattr(module, model_name)


def _operation(spec: RouteSpec, view: View, components: dict[str, Any]) -> dict[str, Any]:
    models = models_of(view)
    op: dict[str, Any] = {
        "operationId": view.__name__,  # unique: Chalice refuses two views of one name
        "summary": spec.summary,
        "tags": [capability_of(view)],
        "parameters": [],
        "responses": {},
    }
    op["security"] = [{"cognitoIdToken": []}] if spec.operation else []
    for name in re.findall(r"{(\w+)}", spec.path):
        op["parameters"].append({"name": name, "in": "path", "required": True, "schema": {"type": "string", "minLength": 1}})
    if models.query is not None:
        op["parameters"] += _query_parameters(models.query, components)
    if spec.method == "PATCH":
        op["parameters"].append({"name": "If-Match", "in": "header", "required": False,
                                 "description": "ETag of the version you read; required (428 without it)",
                                 "schema": {"type": "string"}})
    if spec.method == "POST" and spec.operation:
        op["parameters"].append({"name": "Idempotency-Key", "in": "header", "required": False,
                                 "description": "Same key and body within 24 h: the first response again",
                                 "schema": {"type": "string", "minLength": 1, "maxLength": 128}})
    if models.body is not None:
        body_schema = _schema(models.body, components, "validation")
        types = ["application/json"] + (["application/merge-patch+json"] if spec.method == "PATCH" else [])
        op["requestBody"] = {"required": True, "content": {t: {"schema": body_schema} for t in types}}
    ok: dict[str, Any] = {"description": spec.summary}
    if spec.response:
        response = _response_model(spec.response, capability_models(view))
        ok["content"] = {"application/json": {"schema": _schema(response, components, "serialization")}}
    elif spec.path == "/openapi.json":
        ok["content"] = {"application/json": {"schema": {"type": "object"}}}
    if spec.headers:
        ok["headers"] = {h: {"schema": {"type": "string"}} for h in spec.headers}
    op["responses"][str(spec.status)] = ok
    if spec.accepted:
        running = _response_model(spec.accepted, capability_models(view))
        op["responses"]["202"] = {
            "description": "Accepted: going on in the background; GET the Location until it answers 200",
            "content": {"application/json": {"schema": _schema(running, components, "serialization")}},
            "headers": {h: {"schema": {"type": "string"}} for h in ("Location", "Retry-After")}}
    problem_ref = {"$ref": "#/components/responses/Problem"}
    # Any route may fail (500); one with a token is refused by the gateway without a valid one (401) or
    # when the method or resource is not there for the caller (403), whatever else it answers.
    for status in sorted({*spec.errors, 500, *((401, 403) if spec.operation else ())}):
        op["responses"][str(status)] = problem_ref
    # Any route: API Gateway's stage throttling; a route with a token also the per-caller limits (WAF).
    op["responses"]["429"] = {"$ref": "#/components/responses/TooManyRequests"}
    return op


def capability_of(view: View) -> str:
    """The capability a route belongs to: the name of the module that declares it (customers, complaints...)."""
    return view.__module__.rsplit(".", 1)[-1]


def _tag(view: View) -> dict[str, str]:
    """A capability's tag, described by the first line of its routes module's docstring."""
    doc = (importlib.import_module(view.__module__).__doc__ or "").strip()
    return {"name": capability_of(view), "description": doc.splitlines()[0] if doc else capability_of(view)}


def build(routes: list[tuple[RouteSpec, View]]) -> dict[str, Any]:
    components: dict[str, Any] = {}
    _schema(Problem, components, "serialization")
    paths: dict[str, Any] = {}
    tags: dict[str, dict[str, str]] = {}
    for spec, view in routes:
        paths.setdefault(spec.path, {})[spec.method.lower()] = _operation(spec, view, components)
        tags.setdefault(capability_of(view), _tag(view))
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Relasi CRM API",
            "version": "1.0.0",
            "license": {"name": "Proprietary"},
            "description": "Customer 360 API. Errors are RFC 9457 problem+json; statuses used: "
            + ", ".join(f"{s} {t}" for s, (_, t) in sorted(STATUSES.items())),
        },
        "tags": list(tags.values()),
        "paths": paths,
        "components": {
            "schemas": components,
            "responses": {
                "Problem": {
                    "description": "An error, as RFC 9457 problem details",
                    "content": {PROBLEM_JSON: {"schema": {"$ref": REF.format(model="Problem")}}},
                },
                "TooManyRequests": {
                    "description": "Throttled: the stage's rate (problem+json from API Gateway) or the caller's "
                                   "per-window limits (from AWS WAF, which can only call the same problem body "
                                   "application/json); retry after Retry-After seconds",
                    "headers": {"Retry-After": {"schema": {"type": "string"}}},
                    "content": {t: {"schema": {"$ref": REF.format(model="Problem")}}
                                for t in (PROBLEM_JSON, "application/json")},
                },
            },
            "securitySchemes": {
                "cognitoIdToken": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT",
                                   "description": "Amazon Cognito ID token"}
            },
        },
    }
