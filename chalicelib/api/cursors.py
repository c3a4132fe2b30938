"""Opaque, signed pagination cursors.

A cursor is the DynamoDB start key of the next page and the time it was
issued, signed with HMAC-SHA256 together with the scope it belongs to (route,
filters, customer, caller's branch). A cursor that was altered, that belongs
to another listing, or that is older than CURSOR_TTL_SECONDS is a 400 and
never reaches DynamoDB.

A cursor carries a position, never a permission: every page, the first or a
later one, checks the caller's access to what it lists as it is now (a
customer moved to another branch is out of reach on the next page).

The key is the Secrets Manager secret CURSOR_SECRET_ARN, read at run time
(chalicelib/aws.py secret_versions) and cached for CURSOR_KEY_CACHE_SECONDS;
there is no fallback key, so a deployment without it fails at its first
cursor instead of signing with a key anyone can read. Cursors signed with
the version before the current one (AWSPREVIOUS) stay valid, so rotating the
secret needs no deploy and breaks no listing in progress.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
from dataclasses import dataclass
from typing import Any

from chalicelib.config import CURSOR_KEY_CACHE_SECONDS, CURSOR_KEY_REFRESH_MIN_SECONDS, CURSOR_TTL_SECONDS, settings
from chalicelib.domain.errors import BadRequest

_SIG_BYTES = 16


@dataclass(frozen=True)
class _Keys:
    current: bytes
    previous: bytes | None
    read_at: float


_keys: _Keys | None = None
_lock = threading.Lock()


def _read_keys(*, refresh: bool = False) -> _Keys:
    global _keys
    with _lock:
        now = time.monotonic()
        if _keys is not None and not refresh and now - _keys.read_at < CURSOR_KEY_CACHE_SECONDS:
            return _keys
        if _keys is not None and refresh and now - _keys.read_at < CURSOR_KEY_REFRESH_MIN_SECONDS:
            return _keys
        arn = settings().cursor_secret_arn
        if not arn:
            raise RuntimeError("CURSOR_SECRET_ARN is not set: the API has no key to sign cursors with")
        from chalicelib.aws import secret_versions

        current, previous = secret_versions(arn)
        _keys = _Keys(current.encode(), previous.encode() if previous else None, now)
        return _keys


def forget_keys() -> None:
    """Read the key again on next use (tests, and a container that learns of a rotation)."""
    global _keys
    with _lock:
        _keys = None


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _sign(key: bytes, scope: str, payload: bytes) -> bytes:
    return hmac.new(key, scope.encode() + b"\x00" + payload, hashlib.sha256).digest()[:_SIG_BYTES]


def _signed_by_a_key(sig: bytes, scope: str, payload: bytes) -> bool:
    for refresh in (False, True):  # a rotation this container has not seen yet: read the keys again, once
        keys = _read_keys(refresh=refresh)
        if any(k is not None and hmac.compare_digest(sig, _sign(k, scope, payload)) for k in (keys.current, keys.previous)):
            return True
    return False


def encode(key: dict[str, Any] | None, scope: str) -> str | None:
    if key is None:
        return None
    payload = json.dumps({"k": key, "t": int(time.time())}, separators=(",", ":"), sort_keys=True).encode()
    return _b64(_sign(_read_keys().current, scope, payload) + payload)


def decode(cursor: str | None, scope: str) -> dict[str, Any] | None:
    if cursor is None:
        return None
    invalid = BadRequest("The cursor is not valid for this listing; start again without it.")
    try:
        raw = _unb64(cursor)
    except (ValueError, TypeError):
        raise invalid from None
    sig, payload = raw[:_SIG_BYTES], raw[_SIG_BYTES:]
    if len(sig) != _SIG_BYTES or not _signed_by_a_key(sig, scope, payload):
        raise invalid
    try:
        content = json.loads(payload)
    except ValueError:
        raise invalid from None
    if not isinstance(content, dict) or not isinstance(content.get("k"), dict) or not isinstance(content.get("t"), int):
        raise invalid
    if time.time() - content["t"] > CURSOR_TTL_SECONDS:
        raise BadRequest(f"The cursor has expired (a cursor lasts {CURSOR_TTL_SECONDS // 60} minutes); start the "
                         "listing again without it.")
    return dict(content["k"])
