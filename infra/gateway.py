"""The API Gateway part of the local stack.

Chalice's LocalGateway runs routes and the custom authorizer; this subclass
adds the two things our deployed API Gateway does on top, as declared in
`infra/template.yaml` (GatewayResponses):

- an authorizer that rejects a token answers 401 (in Lambda the authorizer
  raises "Unauthorized", which API Gateway maps to 401);
- gateway-made errors (401, 403, unknown route, a method no route has, an
  overlong URL or oversize headers) are problem+json too;
- with a `throttle` (infra/throttle.py, what `make run` uses), the per-caller
  rate limits of the template's WAF rules: 429 with their body and headers.

Both `make run` and the API tests use it, so local and cloud answer alike.
"""

from __future__ import annotations

import json
from collections.abc import Collection
from http import HTTPStatus
from typing import Any

from chalice.app import Chalice
from chalice.config import Config
from chalice.local import (
    ChaliceRequestHandler,
    ForbiddenError,
    LocalChalice,
    LocalDevServer,
    LocalGateway,
    LocalGatewayException,
    NotAuthorizedError,
)
from chalice.test import Client

from chalicelib.api.auth import TokenRejected
from chalicelib.api.problems import PROBLEM_JSON, problem_body
from infra import iam_local
from infra.throttle import CallerThrottle

_GATEWAY_DETAILS = {
    401: "Send a valid Cognito ID token as 'Authorization: Bearer <token>'; an ID token lasts 1 hour, then sign in again for a new one.",
    403: "There is no such resource, or you may not access it.",
}


def _as_problem(error: LocalGatewayException, request_headers: dict[str, Any]) -> LocalGatewayException:
    status = error.CODE
    body = problem_body(status, _GATEWAY_DETAILS.get(status, "The request was refused."))
    headers = {**(error.headers or {}), "Content-Type": PROBLEM_JSON, "Vary": "Origin", "Cache-Control": "no-store"}
    origin = {k.lower(): v for k, v in request_headers.items()}.get("origin")
    if origin:
        # The deployed gateway echoes any Origin on its own errors (it cannot
        # check a list); locally only the configured ones, like the app does.
        from chalicelib.config import settings

        if origin in settings().cors_allowed_origins:
            headers["Access-Control-Allow-Origin"] = origin
    return type(error)(headers, json.dumps(body).encode())


class TooManyRequests(LocalGatewayException):
    CODE = 429


class _ScopedAuthorizer:
    """Chalice's local authorizer, run as the packaged authorizer function (infra/iam_local.py)."""

    def __init__(self, authorizer: Any) -> None:
        self._authorizer = authorizer

    def authorize(self, *args: Any, **kwargs: Any) -> Any:
        with iam_local.acting_as(iam_local.function_of_handler("app.cognito_id_token")):
            return self._authorizer.authorize(*args, **kwargs)


class RelasiLocalGateway(LocalGateway):
    def __init__(self, app: Chalice, config: Config, throttle: CallerThrottle | None = None) -> None:
        super().__init__(app, config)
        self.throttle = throttle
        self._authorizer = _ScopedAuthorizer(self._authorizer)  # type: ignore[assignment]

    def handle_request(self, method: str, path: str, headers: dict[str, Any], body: bytes | None) -> Any:
        blocked = self.throttle.check(method, path, headers) if self.throttle is not None else None
        if blocked is not None:  # WAF answers before API Gateway routes, authorizes or runs anything
            raise TooManyRequests(dict(blocked.headers), blocked.body)
        declared = self._methods_of(path)
        if method != "OPTIONS" and declared is not None and method not in declared:
            # API Gateway has no such method on the resource: MISSING_AUTHENTICATION_TOKEN (403), before
            # any authorizer runs (Chalice's app would answer 405, which the deployed API never lets through)
            raise _as_problem(ForbiddenError({}, b""), headers)
        try:
            with iam_local.acting_as(iam_local.function_of_handler("app.app")):  # the API's packaged function
                return super().handle_request(method, path, headers, body)
        except TokenRejected:
            raise _as_problem(NotAuthorizedError({}, b""), headers) from None
        except LocalGatewayException as error:
            raise _as_problem(error, headers) from None

    def _methods_of(self, path: str) -> Collection[str] | None:
        """The methods the resource that `path` names declares; None for a path no route has
        (Chalice's gateway answers those itself)."""
        try:
            resource = self.event_converter._route_matcher.match_route(path).route
        except ValueError:
            return None
        return self._app_object.routes[resource].keys()


SIGN_IN_PATH = "/_relasi/sign-in"


def _sign_in(raw: bytes) -> tuple[int, dict[str, Any]]:
    import os

    from infra.demo import id_token

    try:
        asked = json.loads(raw or b"{}")
        username, password = str(asked["username"]), str(asked["password"])
    except (ValueError, KeyError, TypeError):
        return 400, {"detail": "Send {\"username\", \"password\"}."}
    try:
        token = id_token(username, os.environ["USER_POOL_ID"], os.environ["USER_POOL_CLIENT_ID"], password)
    except Exception:  # noqa: BLE001 - a wrong user or password; nothing else to tell
        return 401, {"detail": "Wrong username or password."}
    return 200, {"id_token": token, "expires_in": 3600}


class _Handler(ChaliceRequestHandler):
    throttle: CallerThrottle | None = None  # one per server: it counts across the request threads

    def __init__(self, request: Any, client_address: Any, server: Any, app_object: Chalice, config: Config) -> None:
        self.local_gateway = RelasiLocalGateway(app_object, config, self.throttle)
        super(ChaliceRequestHandler, self).__init__(request, client_address, server)

    def log_message(self, format: str, *args: Any) -> None:
        """Silent: the app's own access log (route templates only) is the log."""

    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        """POST /_relasi/sign-in: the local stack's stand-in for Cognito's managed login, for the console's sign-in
        form ({"username", "password"} -> {"id_token", "expires_in"}, or 401), as `make token` gets a token from
        moto's Cognito. Not part of the app: a deployed console signs in at Cognito (chalicelib/console)."""
        if self.path != SIGN_IN_PATH:
            super().do_POST()
            return
        status, body = _sign_in(self.rfile.read(min(int(self.headers.get("Content-Length") or 0), 4096)))
        data = json.dumps(body).encode()
        self.send_response(status)
        for name, value in (("Content-Type", "application/json"), ("Cache-Control", "no-store"),
                            ("Content-Length", str(len(data)))):
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """What http.server refuses before any route runs, answered as API Gateway answers it: a method
        no route has (TRACE, CONNECT, made-up ones: http.server's 501) as a resource without that method
        (MISSING_AUTHENTICATION_TOKEN, 403); an overlong URL (414), oversize headers (431) or a malformed
        request (400) with their status and DEFAULT_4XX's wording. Never an HTML page."""
        status = ForbiddenError.CODE if code == HTTPStatus.NOT_IMPLEMENTED else code
        body = json.dumps(problem_body(status, _GATEWAY_DETAILS.get(status, "The request was refused."))).encode()
        self.send_response(status)
        for name, value in (("Content-Type", PROBLEM_JSON), ("Cache-Control", "no-store"),
                            ("Content-Length", str(len(body))), ("Connection", "close")):
            self.send_header(name, value)
        self.end_headers()
        if getattr(self, "command", None) != "HEAD":
            self.wfile.write(body)
        self.close_connection = True


def local_server(app: Chalice, config: Config, host: str, port: int,
                 throttle: CallerThrottle | None = None) -> LocalDevServer:
    app.__class__ = LocalChalice  # thread-local current_request, as `chalice local` does
    handler = type("Handler", (_Handler,), {"throttle": throttle})
    return LocalDevServer(app, config, host, port, handler_cls=handler)


def test_client(app: Chalice, project_dir: str, stage: str = "dev", throttle: CallerThrottle | None = None) -> Client:
    """chalice.test.Client whose gateway behaves like the deployed one (throttled only if given a throttle)."""
    client = Client(app, stage_name=stage, project_dir=project_dir)
    http = client.http
    http._local_gateway = RelasiLocalGateway(app, client._chalice_config, throttle)  # type: ignore[attr-defined]
    return client
