"""RFC 9457 problem+json: every error answer of the API is made here.

Domain errors map to statuses in one table; Chalice's own error bodies (415,
405, 500) and API Gateway's (401, 403) are rewritten into the same shape.
"""

from __future__ import annotations

import json
from typing import Any

from chalice import Response

from chalicelib.domain import errors as E

PROBLEM_JSON = "application/problem+json"

# status -> (type slug, title)
STATUSES: dict[int, tuple[str, str]] = {
    400: ("bad-request", "Bad request"),
    401: ("unauthorized", "Authentication required"),
    403: ("forbidden", "Forbidden"),
    404: ("not-found", "Not found"),
    405: ("method-not-allowed", "Method not allowed"),
    409: ("conflict", "Conflict"),
    412: ("precondition-failed", "Precondition failed"),
    413: ("payload-too-large", "Payload too large"),
    415: ("unsupported-media-type", "Unsupported media type"),
    422: ("unprocessable", "Unprocessable content"),
    428: ("precondition-required", "Precondition required"),
    429: ("too-many-requests", "Too many requests"),
    500: ("internal-error", "Internal server error"),
    503: ("service-unavailable", "Service unavailable"),
}

# type slug -> what it means and what to do: GET /problems/<slug> (every `type` URI resolves)
EXPLANATIONS: dict[str, str] = {
    "bad-request": "The request cannot be understood as it is: the detail says what is wrong (a malformed header "
                   "such as If-Match, an expired or foreign cursor...). Change it and send it again.",
    "validation-error": "Some fields or query parameters are not valid: `errors` lists each (`field`, `message`). "
                        "Fix those and send the request again; /openapi.json describes every field.",
    "malformed-json": "The body is not valid JSON. Send a JSON object with Content-Type: application/json.",
    "unauthorized": "No valid token: send a Cognito ID token as `Authorization: Bearer <token>`. An ID token lasts "
                    "1 hour; sign in again for a new one (locally: make token AS=<user>).",
    "forbidden": "Your role does not allow this operation, or the record belongs to another branch than yours: "
                 "the detail names your role and the roles that may. Ask an admin if your work needs it.",
    "not-found": "There is no such record, or it is not yours to see (a record of another branch answers the same, "
                 "so that its existence is not revealed).",
    "method-not-allowed": "The resource exists but does not take this method: /openapi.json lists its methods.",
    "conflict": "The request conflicts with the record's state: a contact already in use by another customer, a "
                "status change the lifecycle does not allow, or a change made meanwhile. Read it again and decide.",
    "idempotency-in-progress": "A request with the same Idempotency-Key is still being handled. Wait a moment and "
                               "send it again: you then get its answer.",
    "precondition-failed": "The record changed since you read it (its ETag is no longer the one in If-Match). GET it "
                           "again, re-apply your change to what it is now, and send it with the new ETag.",
    "payload-too-large": "The body is larger than the API accepts (256 KB). Send less (a shorter description or note).",
    "unsupported-media-type": "Send the body as JSON with Content-Type: application/json.",
    "unprocessable": "The request is well-formed but cannot be processed as it is: the detail says why.",
    "idempotency-key-reused": "This Idempotency-Key was used before with a different request. Use a new key for a "
                              "new request; repeat the exact same request to get the first answer.",
    "precondition-required": "Changing this record needs If-Match with the ETag you read (the ETag header of your "
                             "GET), so that a change made meanwhile is not overwritten.",
    "too-many-requests": "Too many requests in a short time: wait for the seconds in Retry-After (or a second) and "
                         "send again.",
    "internal-error": "Something failed on our side; nothing was changed unless the detail says so. Send the request "
                      "again later; if it keeps failing, tell support the time and the route.",
    "service-unavailable": "A service the API depends on is busy or down for a moment: send the request again in a "
                           "few seconds (with the same Idempotency-Key, if it creates something).",
}


def explanation(slug: str) -> dict[str, Any] | None:
    """What GET /problems/<slug> answers, or None for a type the API does not have."""
    if slug not in EXPLANATIONS:
        return None
    status = next((s for s, (default, _) in STATUSES.items() if default == slug),
                  next((s for _, s, special in _BY_ERROR if special == slug), 400))
    return {"type": f"/problems/{slug}", "title": STATUSES.get(status, ("", "Error"))[1], "status": status,
            "explanation": EXPLANATIONS[slug]}


_BY_ERROR: list[tuple[type[E.DomainError], int, str | None]] = [
    (E.Unprocessable, 422, "unprocessable"),
    (E.ValidationFailed, 400, "validation-error"),
    (E.BadRequest, 400, None),
    (E.Unauthorized, 401, None),
    (E.Forbidden, 403, None),
    (E.NotFound, 404, None),
    (E.IdempotencyInProgress, 409, "idempotency-in-progress"),
    (E.Conflict, 409, None),
    (E.ContactInUse, 409, None),
    (E.StaleRead, 409, None),
    (E.PreconditionFailed, 412, None),
    (E.PayloadTooLarge, 413, None),
    (E.UnsupportedMediaType, 415, None),
    (E.IdempotencyKeyReused, 422, "idempotency-key-reused"),
    (E.PreconditionRequired, 428, None),
    (E.ServiceUnavailable, 503, None),
]


def problem_body(status: int, detail: str, *, slug: str | None = None, **extra: Any) -> dict[str, Any]:
    default_slug, title = STATUSES.get(status, ("error", "Error"))
    body: dict[str, Any] = {
        "type": f"/problems/{slug or default_slug}",
        "title": title,
        "status": status,
        "detail": detail,
    }
    body.update({k: v for k, v in extra.items() if v is not None})
    return body


def problem(status: int, detail: str, *, slug: str | None = None, headers: dict[str, str] | None = None, **extra: Any) -> Response:
    return Response(
        body=json.dumps(problem_body(status, detail, slug=slug, **extra)),
        status_code=status,
        headers={"Content-Type": PROBLEM_JSON, **(headers or {})},
    )


def from_error(error: E.DomainError) -> Response:
    for cls, status, slug in _BY_ERROR:
        if isinstance(error, cls):
            extra: dict[str, Any] = {}
            if isinstance(error, E.ValidationFailed):
                extra["errors"] = [{"field": f.field, "message": f.message} for f in error.errors]
            if isinstance(error, E.Conflict):
                extra.update(error.extra)
            if isinstance(error, E.ContactInUse):
                extra["field"] = error.field  # never the holder: see chalicelib/services/customers.py
            headers = {"Retry-After": "1"} if status == 503 else None
            return problem(status, error.detail, slug=slug, headers=headers, **extra)
    return problem(500, "The request could not be completed.")


UNNAMED = "*"  # stands for a name the caller chose (an unknown field, a map key): never echoed


def _declared_names() -> frozenset[str]:
    """Every field name (and alias) of the request models loaded: the only names an error may repeat.
    (The model that failed is among them: its capability's models were imported to validate.)"""
    from chalicelib.api.models import Input

    names: set[str] = set()
    models: list[type[Input]] = [Input]
    while models:
        model = models.pop()
        models.extend(model.__subclasses__())
        for name, info in model.model_fields.items():
            names.update(n for n in (name, info.alias) if n)
    return frozenset(names)


def _location(loc: tuple[Any, ...]) -> str:
    """A pydantic error location without what the caller named: list positions and the models'
    field names are kept, anything else (an unknown field's name, a map key: they can be an email,
    a phone number, a name) becomes `*`."""
    declared = _declared_names()
    return ".".join(str(p) if isinstance(p, int) or p in declared or p == "[key]" else UNNAMED for p in loc)


class _MalformedJson(Exception):
    pass


def field_errors(exc: Any, location: str) -> list[dict[str, str]]:
    """Each field of a pydantic ValidationError with its message. Input values are never echoed, nor
    names the caller chose (unknown fields, map keys): those are `*` (docs/security.md)."""
    errors = []
    for err in exc.errors(include_input=False, include_url=False, include_context=False):
        path = _location(tuple(err["loc"]))
        message = err["msg"]
        if err["type"] == "json_invalid":
            raise _MalformedJson
        if err["type"] == "extra_forbidden":
            message = "is not a known field (see /openapi.json)"
        elif message.startswith("Value error, "):
            message = message[len("Value error, "):]
        # a rule over several query parameters names the query string itself
        field = (f"query.{path}" if path else "query") if location == "query" else path or location
        errors.append({"field": field, "message": message})
    return errors


def from_pydantic(exc: Any, location: str) -> Response:
    """A pydantic ValidationError as a 400 listing each field (field_errors)."""
    try:
        errors = field_errors(exc, location)
    except _MalformedJson:
        return problem(400, "The request body is not valid JSON.", slug="malformed-json")
    return problem(400, "The request is not valid.", slug="validation-error", errors=errors)
