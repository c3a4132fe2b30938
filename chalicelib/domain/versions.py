"""Optimistic concurrency for every versioned record: the ETag of a version and the If-Match rule (RFC 9110).

A record (a customer, a complaint...) carries a `version` that each change
raises by one; its ETag is `"v<version>"`. A change must name the version it
was made from in `If-Match`: without it 428, naming another version 412.
"""

from __future__ import annotations

from chalicelib.domain.errors import PreconditionFailed, PreconditionRequired


def etag_for(version: int) -> str:
    return f'"v{version}"'


def require_if_match(header: str | None, version: int, what: str) -> None:
    """428 without If-Match, 412 if it names another version of `what`."""
    if not header:
        raise PreconditionRequired(f"Send If-Match with the ETag of the {what} you read.")
    if not if_match_allows(header, version):
        raise PreconditionFailed(f"The {what} was changed by someone else; fetch it again.")


def if_match_allows(header: str, version: int) -> bool:
    """RFC 9110 If-Match: `*` or a list of ETags, compared strongly (weak ETags never match)."""
    current = etag_for(version)
    for candidate in header.split(","):
        tag = candidate.strip()
        if tag == "*" or tag == current:
            return True
    return False
