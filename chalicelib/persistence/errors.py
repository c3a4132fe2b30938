"""Translate DynamoDB failures into domain errors."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from pynamodb.exceptions import PynamoDBException

from chalicelib.domain.errors import ServiceUnavailable

RETRYABLE = {  # DynamoDB error codes that mean: busy or failing, retry
    "ProvisionedThroughputExceededException",
    "ThrottlingException",
    "RequestLimitExceeded",
    "InternalServerError",
    "ServiceUnavailable",
}


@contextmanager
def translated() -> Iterator[None]:
    """Throttling and AWS-side failures become ServiceUnavailable (503, retryable).

    Everything else is a bug and propagates unchanged.
    """
    try:
        yield
    except PynamoDBException as exc:
        if exc.cause_response_code in RETRYABLE:
            raise ServiceUnavailable("The data store is busy; retry shortly.") from exc
        raise
