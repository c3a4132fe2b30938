"""The staff console: server-rendered pages for front office, back office and managers.

How it is built, and how to add a page, is in docs/architecture.md ("The staff
console"); the frame is chalicelib/console/frame.py, the pages
chalicelib/console/pages.py, the words chalicelib/console/i18n.py.
"""

from __future__ import annotations

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
