"""Opaque, signed pagination cursors.

A cursor is the DynamoDB start key of the next page and the time it was
issued, signed with HMAC-SHA256 together with the scope it belongs to (route,
filters, customer, caller's branch). A cursor that was altered, that belongs
to another listing, or that is older than CURSOR_TTL_SECONDS is a 400 and
never reaches DynamoDB.

Because only the server can mint one, and only after the caller's access to
that listing was checked on its first page, a valid cursor is proof of that
check: later pages of a customer's history need no second read of the
profile. The expiry bounds how long that proof lasts (a customer moved to
another branch stays readable through an already issued cursor for at most
that long).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from typing import Any

from chalicelib.config import CURSOR_TTL_SECONDS, settings
from chalicelib.domain.errors import BadRequest

_SIG_BYTES = 16


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _sign(scope: str, payload: bytes) -> bytes:
    return hmac.new(settings().cursor_secret, scope.encode() + b"\x00" + payload, hashlib.sha256).digest()[:_SIG_BYTES]


def encode(key: dict[str, Any] | None, scope: str) -> str | None:
    if key is None:
        return None
    payload = json.dumps({"k": key, "t": int(time.time())}, separators=(",", ":"), sort_keys=True).encode()
    return _b64(_sign(scope, payload) + payload)


def decode(cursor: str | None, scope: str) -> dict[str, Any] | None:
    if cursor is None:
        return None
    invalid = BadRequest("The cursor is not valid for this listing; start again without it.")
    try:
        raw = _unb64(cursor)
    except (ValueError, TypeError):
        raise invalid from None
    sig, payload = raw[:_SIG_BYTES], raw[_SIG_BYTES:]
    if len(sig) != _SIG_BYTES or not hmac.compare_digest(sig, _sign(scope, payload)):
        raise invalid
    try:
        content = json.loads(payload)
    except ValueError:
        raise invalid from None
    if not isinstance(content, dict) or not isinstance(content.get("k"), dict) or not isinstance(content.get("t"), int):
        raise invalid
    if time.time() - content["t"] > CURSOR_TTL_SECONDS:
        raise BadRequest("The cursor has expired; start the listing again without it.")
    return dict(content["k"])
