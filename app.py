"""Relasi CRM: Chalice wiring only. Logic lives in chalicelib/.

Nothing heavy is imported here: handlers import what they need on first use,
so a cold start pays only for Chalice itself.
"""

from chalice import AuthResponse, Chalice

from chalicelib.api import complaints, customers, http, meta
from chalicelib.api.middleware import http_middleware

# configure_logs=False: Chalice would add a second, plain-text handler to the
# "relasi" logger that Powertools already writes structured JSON through.
app = Chalice(app_name="relasi", configure_logs=False)
app.register_middleware(http_middleware, "http")


@app.authorizer(ttl_seconds=300)
def cognito_id_token(auth_request):  # type: ignore[no-untyped-def]
    """Verifies the Cognito ID token; the claims reach the routes as context."""
    from chalicelib.api.auth import principal_context, verify

    principal = verify(auth_request.token)
    return AuthResponse(routes=["*"], principal_id=principal.sub, context=principal_context(principal))


http.register(app, cognito_id_token, customers.ROUTES + complaints.ROUTES + meta.ROUTES)
