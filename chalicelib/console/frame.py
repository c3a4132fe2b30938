"""The console's frame: how a page becomes a route, who may see it, and how it is rendered.

A page is one `Page` (method, path, the permission-matrix operation its content
needs, its view, its template), listed in PAGES (chalicelib/console/pages.py);
`register` makes each a Chalice route.
The view gets a `Ctx` (the caller's Access, the query, the form, the language)
and returns the template's variables; it calls the same services the JSON API
calls, so the same rules and the same one or two DynamoDB requests apply.

Every page route is public at the gateway, because a plain navigation (a
bookmark, a telephony system opening /console/pop?phone=...) carries no
token: such a request gets the page's shell, which holds no data. The shell
(static/console.js) asks for the content at the same URL as an htmx request
carrying the ID token from the browser session (`Authorization: Bearer`);
that request is verified here with the API authorizer's own code
(chalicelib/api/auth.verify) and authorized with the same matrix
(chalicelib/domain/access). Content never goes to a request without a valid
token: 401, and the shell sends the browser to the sign-in page.

Every answer carries the security headers (SECURITY_HEADERS); templates are
autoescaped, so anything a customer or an agent typed is shown as text.
"""

from __future__ import annotations

import hashlib
import json
import re
import urllib.parse
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from chalice import Chalice, Response
from chalice.app import Request

from chalicelib.console.i18n import LANGUAGES, Translator, format_datetime, format_money
from chalicelib.domain.access import Access, authorize
from chalicelib.domain.errors import DomainError, FieldError, Forbidden, ValidationFailed
from chalicelib.observability import logger

HERE = Path(__file__).resolve().parent
STATIC_DIR = HERE / "static"
TEMPLATE_DIR = HERE / "templates"
HTML = "text/html; charset=utf-8"
CSP = "default-src 'self'; frame-ancestors 'none'; base-uri 'self'; form-action 'self'"
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}
STATIC_TYPES = {".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8",
                ".svg": "image/svg+xml"}


@dataclass
class Ctx:
    """What a view gets."""

    request: Request
    access: Access
    lang: str
    query: dict[str, str]
    form: dict[str, str]
    t: Translator


@dataclass(frozen=True)
class Page:
    method: str
    path: str
    operation: str  # the matrix operation the content needs (chalicelib/domain/access.py)
    view: Callable[..., Mapping[str, Any]]  # (ctx, **path args) -> the template's variables
    template: str  # under templates/; a view's answer may set `_template`, `_status` and `_headers`
    title: str | None = None  # i18n key: a GET page with a title has a shell; without, it is a fragment
    menu: str | None = None  # i18n key of its menu entry (the nav lists the pages the caller may open)


class Redirect(Exception):  # noqa: N818 - a control-flow answer, not an error
    """From a view: send the browser to `location` (HX-Location: an htmx navigation, the token goes along)."""

    def __init__(self, location: str) -> None:
        super().__init__(location)
        self.location = location


# --- static assets: content-hashed names, cached for a year ----------------------------------------------------------

@cache
def _assets() -> dict[str, tuple[str, bytes]]:
    """hashed name -> (file name, bytes), for every file under static/."""
    found = {}
    for path in sorted(STATIC_DIR.iterdir()):
        data = path.read_bytes()
        digest = hashlib.sha256(data).hexdigest()[:10]
        found[f"{path.stem}.{digest}{path.suffix}"] = (path.name, data)
    return found


@cache
def static_url(name: str) -> str:
    for hashed, (original, _) in _assets().items():
        if original == name:
            return f"/console/static/{hashed}"
    raise KeyError(name)


def static_response(name: str) -> Response:
    found = _assets().get(name)
    if found is None:
        return Response(body="", status_code=404, headers={**SECURITY_HEADERS, "Content-Type": "text/plain"})
    original, data = found
    return Response(body=data.decode("utf-8"), status_code=200, headers={
        **SECURITY_HEADERS, "Content-Type": STATIC_TYPES.get(Path(original).suffix, "application/octet-stream"),
        "Cache-Control": "public, max-age=31536000, immutable"})


# --- rendering -------------------------------------------------------------------------------------------------------

@cache
def _environment() -> Any:
    import jinja2

    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(TEMPLATE_DIR)), autoescape=True,
                             undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    env.filters.update(datetime=format_datetime, money=format_money)
    return env


def render(template: str, lang: str, root: str, **variables: Any) -> str:
    """`root`: what stands before /console in the browser's URL (the API's stage, a base path; "" locally)."""
    return str(_environment().get_template(template).render(
        t=Translator(lang), lang=lang, root=root, static=lambda name: root + static_url(name), **variables))


_ROOT = re.compile(r"(/[A-Za-z0-9._-]+)*")


def root_of(request: Request) -> str:
    """The path in front of the route as the browser asked for it: API Gateway's `context.path` holds the stage
    and the path's values (`/api/console/customers/01J…`), the route template (`resourcePath`,
    `/console/customers/{customer_id}`) has as many segments after it. Anything but plain path segments: ""."""
    context = request.context or {}
    asked = str(context.get("path") or "").rstrip("/").split("/")
    route = str(context.get("resourcePath") or request.path or "").rstrip("/").split("/")
    root = "/".join(asked[: len(asked) - len(route) + 1]) if len(asked) >= len(route) else ""
    return root if _ROOT.fullmatch(root) else ""


@cache
def _page_headers() -> dict[str, str]:
    """SECURITY_HEADERS; in the cloud the sign-in page's script also exchanges its code at Cognito's managed
    login (connect-src), nothing else leaves 'self'."""
    from chalicelib.config import settings

    login = settings().console_login_url
    return {**SECURITY_HEADERS, "Content-Security-Policy": CSP + (f"; connect-src 'self' {login}" if login else "")}


def html(body: str, status: int = 200, **headers: str) -> Response:
    return Response(body=body, status_code=status, headers={**_page_headers(), "Content-Type": HTML, **headers})


def language(request: Request) -> str:
    """The console's language: the `relasi_lang` cookie (the switch in the header sets it), Indonesian by default."""
    for part in (request.headers.get("cookie") or "").split(";"):
        name, _, value = part.strip().partition("=")
        if name == "relasi_lang" and value in LANGUAGES:
            return value
    return "id"


def form_of(request: Request) -> dict[str, str]:
    """An htmx form post (application/x-www-form-urlencoded): the last value of each field."""
    content_type = (request.headers.get("content-type") or "").split(";")[0].strip().lower()
    if content_type != "application/x-www-form-urlencoded":
        return {}
    raw = request.raw_body or b""
    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw
    return {k: v[-1] for k, v in urllib.parse.parse_qs(text, keep_blank_values=True).items()}


# --- the route runner ------------------------------------------------------------------------------------------------

def _principal(request: Request) -> Any:
    """The verified caller of a content request (the API authorizer's own code), or None."""
    from chalicelib.api.auth import TokenRejected, verify

    header = request.headers.get("authorization")
    if not header:
        return None
    try:
        return verify(header)
    except TokenRejected:
        return None


def _error(lang: str, root: str, status: int, message: str, **extra: Any) -> Response:
    return html(render("error.html", lang, root, status=status, message=message, **extra), status)


def run(page: Page, request: Request, path_args: dict[str, str]) -> Response:
    lang = language(request)
    root = root_of(request)
    t = Translator(lang)
    if page.method == "GET" and page.title and request.headers.get("hx-request") != "true":
        from chalicelib.config import settings

        s = settings()  # no data: no token needed
        return html(render("shell.html", lang, root, title=t(page.title), login_url=s.console_login_url,
                           client_id=s.user_pool_client_id))
    principal = _principal(request)
    if principal is None:
        return _error(lang, root, 401, t("error.signed_out"))
    try:
        access = authorize(principal, page.operation)
    except Forbidden:
        return _error(lang, root, 403, t("error.forbidden", role=", ".join(sorted(r.value for r in principal.roles))))
    query = {k: v for k, v in (request.query_params or {}).items()}
    ctx = Ctx(request, access, lang, query, form_of(request), t)
    try:
        variables = dict(page.view(ctx, **path_args))
    except Redirect as go:
        return html("", 200, **{"HX-Location": json.dumps({"path": root + go.location, "target": "#content"})})
    except DomainError as exc:
        answer = _domain_error(lang, root, t, exc)
        if page.method != "GET":  # an action that failed: its message above the page, the form stays as it was
            answer.headers.update({"HX-Retarget": "#flash", "HX-Reswap": "innerHTML"})
        return answer
    template = variables.pop("_template", page.template)
    status = int(variables.pop("_status", 200))
    headers = variables.pop("_headers", {})
    return html(render(template, lang, root, access=access, **variables), status, **headers)


def _domain_error(lang: str, root: str, t: Translator, exc: DomainError) -> Response:
    from chalicelib.domain import errors as E

    if isinstance(exc, E.NotFound):
        return _error(lang, root, 404, t("error.not_found"))
    if isinstance(exc, E.Forbidden):
        return _error(lang, root, 403, t("error.forbidden_record"))
    if isinstance(exc, E.Conflict):
        allowed = exc.extra.get("allowed_next_states") or []
        return _error(lang, root, 409, t("error.conflict"), allowed=[t(f"status.{s}") for s in allowed])
    if isinstance(exc, E.PreconditionFailed):
        return _error(lang, root, 412, t("error.changed"))
    if isinstance(exc, E.ValidationFailed):
        return _error(lang, root, 422, t("error.invalid"), fields=exc.errors)
    if isinstance(exc, E.ServiceUnavailable):
        return _error(lang, root, 503, t("error.busy"))
    return _error(lang, root, 400, t("error.invalid"))


def unhandled(request: Request, page: Page, exc: Exception) -> Response:
    tb = exc.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    where = f"{tb.tb_frame.f_code.co_filename.rsplit('/', 1)[-1]}:{tb.tb_lineno}" if tb else "?"
    logger().error("unhandled error", extra={"route": page.path, "method": page.method,
                                             "error_type": type(exc).__name__, "raised_at": where})
    lang = language(request)
    return _error(lang, root_of(request), 500, Translator(lang)("error.unexpected"))


def register(app: Chalice, pages: list[Page]) -> None:
    """Each page a public route (the content checks the token itself, see above), plus the static assets."""
    for page in pages:
        def endpoint(*, _page: Page = page, **path_args: str) -> Response:
            request = app.current_request
            assert request is not None
            try:
                return run(_page, request, path_args)
            except Exception as exc:  # noqa: BLE001 - an HTML answer, never a traceback
                return unhandled(request, _page, exc)

        name = "console_" + page.method.lower() + page.path.replace("/", "_").replace("{", "").replace("}", "")
        app.route(page.path, methods=[page.method], name=name,
                  content_types=["application/x-www-form-urlencoded", "application/json", "*/*"])(endpoint)

    def static(name: str) -> Response:
        return static_response(name)

    app.route("/console/static/{name}", methods=["GET"], name="console_static")(static)


# --- what every console module's views share ---------------------------------------------------------------------

def may(ctx: Ctx, operation: str) -> Access | None:
    """The caller's access for another operation, or None when their role has none."""
    try:
        return authorize(ctx.access.principal, operation)
    except Forbidden:
        return None


def _invalid(exc: Exception) -> list[FieldError]:
    from chalicelib.api.problems import field_errors

    return [FieldError(e["field"], e["message"]) for e in field_errors(exc, "body")]


def validated(model: Any, data: dict[str, Any]) -> Any:
    """A form through the API's own request model, exactly as the API reads its JSON body; ValidationFailed
    naming each field."""
    import json

    import pydantic

    try:
        return model.model_validate_json(json.dumps(data))
    except pydantic.ValidationError as exc:
        raise ValidationFailed(_invalid(exc)) from None
