"""Cognito ID-token verification for the API's custom authorizer.

Checks the RS256 signature against the user pool's JWKS, then `iss`, `aud`
(the app client id), `exp` and `token_use`. Roles come from `cognito:groups`,
the branch from `custom:branch`; both reach the routes through the
authorizer context. The same code runs against Cognito and moto's Cognito.
"""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING, Any

from chalicelib.config import settings
from chalicelib.domain.access import Principal

if TYPE_CHECKING:
    import jwt

CLOCK_SKEW_SECONDS = 30
JWKS_CACHE_SECONDS = 3600


class TokenRejected(Exception):
    """API Gateway turns an authorizer error with this exact message into 401."""

    def __init__(self) -> None:
        super().__init__("Unauthorized")


@lru_cache(maxsize=1)
def _jwks() -> jwt.PyJWKClient:
    import jwt

    return jwt.PyJWKClient(settings().jwks_url, cache_keys=True, lifespan=JWKS_CACHE_SECONDS, timeout=5)


def bearer_token(header: str) -> str:
    """The token of an `Authorization: Bearer <token>` header (the scheme in any case, RFC 9110);
    anything else is rejected, a bare token included."""
    scheme, _, token = header.strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token or any(c.isspace() for c in token):
        raise TokenRejected()
    return token


def verify(header: str) -> Principal:
    """The principal of a verified Cognito ID token sent as `Authorization: Bearer <token>`."""
    import jwt

    s = settings()
    token = bearer_token(header)
    try:
        signing_key = _jwks().get_signing_key_from_jwt(token)
        claims: dict[str, Any] = jwt.decode(
            token,
            signing_key.key,
            algorithms=["RS256"],
            audience=s.user_pool_client_id,
            issuer=s.token_issuer,
            leeway=CLOCK_SKEW_SECONDS,
            options={"require": ["exp", "iat", "iss", "aud", "sub", "token_use"]},
        )
    except jwt.PyJWTError:
        raise TokenRejected() from None
    if claims.get("token_use") != "id":
        raise TokenRejected()
    groups = claims.get("cognito:groups") or []
    if not isinstance(groups, list):
        raise TokenRejected()
    return Principal.from_claims(
        sub=str(claims["sub"]),
        username=str(claims.get("cognito:username", "")),
        groups=[str(g) for g in groups],
        branch=claims.get("custom:branch"),
        phone=str(claims.get("phone_number") or "") or None,
    )


def principal_context(p: Principal) -> dict[str, str]:
    """Authorizer context values must be flat strings."""
    return {
        "sub": p.sub,
        "username": p.username,
        "groups": ",".join(sorted(r.value for r in p.roles)),
        "branch": p.branch or "",
        "phone": p.phone or "",
    }


def principal_from_context(ctx: dict[str, Any]) -> Principal:
    groups = [g for g in str(ctx.get("groups", "")).split(",") if g]
    return Principal.from_claims(
        sub=str(ctx.get("sub", "")),
        username=str(ctx.get("username", "")),
        groups=groups,
        branch=str(ctx.get("branch", "")) or None,
        phone=str(ctx.get("phone", "")) or None,
    )
