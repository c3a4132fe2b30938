"""Domain errors. The HTTP layer maps each to one problem+json answer (chalicelib.api.problems)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass
class FieldError:
    field: str
    message: str


class DomainError(Exception):
    """Base class. `detail` must never contain personal data."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class ValidationFailed(DomainError):
    def __init__(self, errors: list[FieldError], detail: str = "The request is not valid.") -> None:
        super().__init__(detail)
        self.errors = errors


class Unprocessable(ValidationFailed):
    """Well-formed, but what it names or sums does not hold against the CRM's data (an unknown product, totals
    that disagree with the lines): 422, naming each field."""

    def __init__(self, errors: list[FieldError], detail: str = "The request cannot be processed as it is.") -> None:
        super().__init__(errors, detail)


class BadRequest(DomainError):
    """A malformed request that is not about one field (e.g. a tampered cursor)."""


class NotFound(DomainError):
    pass


class Forbidden(DomainError):
    pass


class Unauthorized(DomainError):
    pass


class Conflict(DomainError):
    def __init__(self, detail: str, **extra: Any) -> None:
        super().__init__(detail)
        self.extra = extra


class ContactInUse(DomainError):
    """A phone or email is another customer's (`holder_id`). Answered as a 409 that names the field
    only; the use case (chalicelib/services/customers.py) names the holder to a caller who may see them."""

    def __init__(self, field: str, holder_id: str | None) -> None:
        super().__init__(f"Another customer already has this {field}.")
        self.field = field
        self.holder_id = holder_id


class StaleRead(DomainError):
    """What a write was conditioned on changed after it was read (e.g. the customer moved to another
    branch); the use case reads again and retries, and answers 409 if that keeps happening."""


class PreconditionFailed(DomainError):
    pass


class PreconditionRequired(DomainError):
    pass


class PayloadTooLarge(DomainError):
    pass


class UnsupportedMediaType(DomainError):
    pass


class IdempotencyKeyReused(DomainError):
    """Same Idempotency-Key, different request body."""


class IdempotencyInProgress(DomainError):
    """Same Idempotency-Key while the first request is still running."""


class ServiceUnavailable(DomainError):
    """AWS throttled or failed; the client may retry."""
