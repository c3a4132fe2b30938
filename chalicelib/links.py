"""Signed links a customer opens without signing in: a campaign's opt-out link (`/u/{token}`) and a satisfaction
survey (`/s/{token}`).

A token is base64url of a body and 8 bytes of HMAC-SHA256 over `<purpose>|<body>` with the Secrets Manager key
LINK_SECRET_ARN (its current version signs; the previous one still verifies after a rotation, so a link sent the
day before a rotation keeps working). The purpose keeps one kind of link from being read as another. What the body
holds is the caller's (chalicelib/workflows/campaigns.py, chalicelib/workflows/surveys.py).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import threading
import time

from chalicelib.config import settings

SIGNATURE_BYTES = 8
KEY_CACHE_SECONDS = 300
_key_cache: tuple[bytes, bytes | None, float] | None = None
_key_lock = threading.Lock()


def _keys() -> tuple[bytes, bytes | None]:
    global _key_cache
    with _key_lock:
        if _key_cache is not None and time.monotonic() - _key_cache[2] < KEY_CACHE_SECONDS:
            return _key_cache[0], _key_cache[1]
        arn = settings().link_secret_arn
        if not arn:
            raise RuntimeError("LINK_SECRET_ARN is not set: no key to sign customer links with")
        from chalicelib.aws import secret_versions

        current, previous = secret_versions(arn)
        _key_cache = (current.encode(), previous.encode() if previous else None, time.monotonic())
        return _key_cache[0], _key_cache[1]


def _signature(key: bytes, purpose: bytes, body: bytes) -> bytes:
    return hmac.new(key, purpose + b"|" + body, hashlib.sha256).digest()[:SIGNATURE_BYTES]


def token_chars(body_bytes: int) -> int:
    """The length of a token whose body has `body_bytes` bytes (base64url without padding)."""
    return -(-(body_bytes + SIGNATURE_BYTES) * 4 // 3)


def sign(purpose: bytes, body: bytes) -> str:
    """The token of `body`, signed with the current key."""
    return base64.urlsafe_b64encode(body + _signature(_keys()[0], purpose, body)).decode().rstrip("=")


def verified(purpose: bytes, token: str, body_bytes: int) -> bytes | None:
    """The body of a token signed for `purpose` with the current or the previous key; None for anything of
    another length, altered or forged."""
    if len(token) != token_chars(body_bytes) or not token.replace("-", "").replace("_", "").isalnum():
        return None
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    except ValueError:
        return None
    body, signature = raw[:-SIGNATURE_BYTES], raw[-SIGNATURE_BYTES:]
    if len(body) != body_bytes or base64.urlsafe_b64encode(raw).decode().rstrip("=") != token:
        return None  # the last character's unused bits changed: an altered link, even if it decodes alike
    current, previous = _keys()
    if not any(k is not None and hmac.compare_digest(_signature(k, purpose, body), signature)
               for k in (current, previous)):
        return None
    return body
