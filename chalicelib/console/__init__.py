"""The staff console: server-rendered pages for front office, back office and managers.

How it is built, and how to add a page, is in docs/architecture.md ("The staff
console"); the frame is chalicelib/console/frame.py, the pages
chalicelib/console/pages.py, the words chalicelib/console/i18n.py.
"""

from __future__ import annotations

from typing import Any

from chalice import Chalice, Response


def register(app: Chalice) -> None:
    """The console's routes: its pages (chalicelib/console/pages.py), the static assets, and the sign-in page."""
    from chalicelib.console import frame, pages

    frame.register(app, pages.PAGES)

    @app.route("/console/sign-in", methods=["GET"], name="console_sign_in")
    def sign_in() -> Response:
        """No data and no token: the form (local stack) or the way to Cognito's managed login (cloud)."""
        from chalicelib.config import settings

        request = app.current_request
        assert request is not None
        s = settings()
        return frame.html(frame.render("sign_in.html", frame.language(request), frame.root_of(request),
                                       login_url=s.console_login_url, client_id=s.user_pool_client_id))

    @app.route("/u/{token}", methods=["GET", "POST"], content_types=["application/x-www-form-urlencoded",
                                                                      "application/json", "text/plain",
                                                                      "multipart/form-data"], name="opt_out_link")
    def opt_out_link(token: str) -> Response:
        """A campaign message's opt-out link (public: its signature is the permission). GET shows the question
        and changes nothing (link scanners open links); POST (the button, or a mail client's RFC 8058 one-click
        post) withdraws the channel's marketing consent, once. A forged or altered link is 404."""
        from chalicelib.domain.errors import DomainError, NotFound
        from chalicelib.services import campaigns

        request = app.current_request
        assert request is not None
        params: dict[str, str] = dict(request.query_params or {})
        lang = params.get("lang") or frame.language(request)
        lang = lang if lang in ("id", "en") else "id"
        root = frame.root_of(request)
        try:
            if request.method == "POST":
                campaigns.opt_out(token)
                return frame.html(frame.render("opt_out.html", lang, root, state="done", channel=""))
            owner, _ = campaigns.link_owner(token)
        except NotFound:
            return frame.html(frame.render("opt_out.html", lang, root, state="invalid", channel=""), 404)
        except DomainError:  # busy, or the profile kept changing: nothing was withdrawn, the button works again
            return frame.html(frame.render("opt_out.html", lang, root, state="retry", channel=""), 503,
                              **{"Retry-After": "5"})
        page = frame.render("opt_out.html", lang, root, state="ask", channel=owner.channel)
        return frame.html(page, 200, **{"Cache-Control": "no-store"})

    @app.route("/s/{token}", methods=["GET", "POST"], content_types=["application/x-www-form-urlencoded",
                                                                      "multipart/form-data", "text/plain",
                                                                      "application/json"], name="survey_link")
    def survey_link(token: str) -> Response:
        """A satisfaction survey's page (public: its signature is the permission; chalicelib/workflows/surveys.py).
        GET shows the question and changes nothing (link scanners open links); POST takes the answer, once. A
        forged or altered link, or a survey erased with its customer, is 404; an answered one 409, an expired one
        410, each with a page that says so. The answer is read from a form post (the page's); any other body has
        no score in it (400, the form again)."""
        from chalicelib.config import SURVEY_COMMENT_MAX_CHARS, SURVEY_LOW_CSAT, SURVEY_TTL_DAYS
        from chalicelib.domain.clock import utcnow
        from chalicelib.domain.errors import Conflict, DomainError, NotFound, ValidationFailed
        from chalicelib.domain.surveys import Expired, check_open
        from chalicelib.workflows import surveys

        request = app.current_request
        assert request is not None
        params: dict[str, str] = dict(request.query_params or {})
        root = frame.root_of(request)

        def page(state: str, lang: str, status: int = 200, **variables: Any) -> Response:
            headers = {"Cache-Control": "no-store", **({"Retry-After": "5"} if status == 503 else {})}
            return frame.html(frame.render("survey.html", lang, root, state=state, ttl_days=SURVEY_TTL_DAYS,
                                           comment_max=SURVEY_COMMENT_MAX_CHARS, **variables), status, **headers)

        asked = params.get("lang")
        lang = asked if asked in ("id", "en") else frame.language(request)
        errors: list[str] = []
        form = frame.form_of(request) if request.method == "POST" else {}
        try:
            if request.method == "POST":  # one transaction; the survey is read only to say why it was refused
                try:
                    done = surveys.answer(token, form)
                    return page("done", lang, low=done.csat <= SURVEY_LOW_CSAT)
                except ValidationFailed as exc:
                    errors = [e.field for e in exc.errors]
            survey = surveys.survey_of(token)
            if errors == ["nps"] and not survey.asks_nps:  # a score for a question the page did not ask
                done = surveys.answer(token, {k: v for k, v in form.items() if k != "nps"})
                return page("done", lang, low=done.csat <= SURVEY_LOW_CSAT)
            lang = asked if asked in ("id", "en") else survey.language
            check_open(survey, utcnow())
        except NotFound:
            return page("invalid", lang, 404)
        except Conflict:
            return page("answered", lang, 409 if request.method == "POST" else 200)
        except Expired:
            return page("expired", lang, 410)
        except DomainError:
            return page("retry", lang, 503)
        return page("ask", lang, 400 if errors else 200, errors=errors, subject=survey.subject,
                    ref=survey.subject_ref, asks_nps=survey.asks_nps, comment=form.get("comment", ""),
                    form_csat=form.get("csat", ""))

