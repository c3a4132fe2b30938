"""Opaque, signed pagination cursors.

A cursor is the DynamoDB start key of the next page plus the scope it belongs
to (route, filters, caller's branch), signed with HMAC-SHA256. A cursor that
was altered, or that belongs to another listing, is a 400 and never reaches
DynamoDB.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from typing import Any

from chalicelib.config import settings
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
    payload = json.dumps(key, separators=(",", ":"), sort_keys=True).encode()
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
        key = json.loads(payload)
    except ValueError:
        raise invalid from None
    if not isinstance(key, dict):
        raise invalid
    return key
