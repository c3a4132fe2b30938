"""boto3 clients, made on first use and kept for the warm container.

boto3 costs ~160 ms to import, so nothing imports it at module level in the
Lambda path; every adapter asks here instead.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from chalicelib.config import settings


def client(service: str) -> Any:
    """The service's client for the configured region and endpoint (a Lambda container has one for good; the bench
    and the tests start stacks one after another in a process, each on a port of its own: AWS_ENDPOINT_URL)."""
    import os

    return _client(service, settings().region, os.environ.get("AWS_ENDPOINT_URL"))


def forget_clients() -> None:
    """Make every client anew on next use (tests that change what a client is made with)."""
    _client.cache_clear()


@cache
def _client(service: str, region: str, endpoint: str | None) -> Any:
    import boto3  # lazy: cold start

    return boto3.client(service, region_name=region)


def error_code(error: Exception) -> str:
    """The AWS error code of a botocore ClientError ("" for anything else)."""
    response = getattr(error, "response", None) or {}
    return str(response.get("Error", {}).get("Code", ""))


def cancellation_codes(error: Exception) -> list[str]:
    """The per-item reasons of a cancelled transaction ("None" for an item that was fine), or [] for other errors."""
    if error_code(error) != "TransactionCanceledException":
        return []
    reasons = (getattr(error, "response", None) or {}).get("CancellationReasons") or []
    return [str((r or {}).get("Code") or "None") for r in reasons]


SECRET_CACHE_SECONDS = 3600  # a warm container reads a secret once an hour at most


def secret_value(secret_id: str) -> str:
    """The current string of a Secrets Manager secret (cached per container by Powertools' parameters utility)."""
    from aws_lambda_powertools.utilities.parameters import get_secret  # lazy: only the functions that need it

    value = get_secret(secret_id, max_age=SECRET_CACHE_SECONDS)
    if not isinstance(value, str):
        raise TypeError("the secret must be a string")
    return value


def secret_versions(secret_id: str) -> tuple[str, str | None]:
    """The current string of a Secrets Manager secret and the one before it (AWSPREVIOUS; None until
    the secret was first rotated): what a key that signs must be checked against right after a rotation."""
    sm = client("secretsmanager")
    current = sm.get_secret_value(SecretId=secret_id)["SecretString"]
    try:
        previous = sm.get_secret_value(SecretId=secret_id, VersionStage="AWSPREVIOUS")["SecretString"]
    except Exception as error:
        if error_code(error) != "ResourceNotFoundException":
            raise
        previous = None
    return str(current), previous

