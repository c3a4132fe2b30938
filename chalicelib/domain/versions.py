"""Optimistic concurrency for every versioned record: the ETag of a version and the If-Match rule (RFC 9110).

A record (a customer, a complaint...) carries a `version` that each change
raises by one; its ETag is `"v<version>"`. A change must name the version it
was made from in `If-Match`: without it 428, naming another version 412.
"""

from __future__ import annotations

import re

from chalicelib.domain.errors import BadRequest, PreconditionFailed, PreconditionRequired


def etag_for(version: int) -> str:
    return f'"v{version}"'


_ENTITY_TAG = re.compile(r'\s*(\*|(W/)?"[\x21\x23-\x7e]*")\s*')


def require_if_match(header: str | None, version: int, what: str) -> None:
    """428 without If-Match, 400 if it is not `*` or a list of quoted ETags, 412 if it names another version."""
    if not header:
        raise PreconditionRequired(f"Send If-Match with the ETag of the {what} you read.")
    if not all(_ENTITY_TAG.fullmatch(part) for part in header.split(",")):
        raise BadRequest(f'If-Match must be the ETag of the {what} you read, in its quotes, e.g. If-Match: "v3" '
                         "(the ETag header of your GET), or *.")
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
