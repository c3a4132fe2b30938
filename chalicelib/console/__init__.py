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
