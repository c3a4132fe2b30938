"""boto3 clients, made on first use and kept for the warm container.

boto3 costs ~160 ms to import, so nothing imports it at module level in the
Lambda path; every adapter asks here instead.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from chalicelib.config import settings


@cache
def client(service: str) -> Any:
    import boto3  # lazy: cold start

    return boto3.client(service, region_name=settings().region)


def error_code(error: Exception) -> str:
    """The AWS error code of a botocore ClientError ("" for anything else)."""
    response = getattr(error, "response", None) or {}
    return str(response.get("Error", {}).get("Code", ""))
