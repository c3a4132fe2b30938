"""Time and identifiers: UTC ISO-8601 with Z, time-sortable ULIDs."""

from __future__ import annotations

from datetime import UTC, datetime


def utcnow() -> datetime:
    return datetime.now(UTC)


def iso(moment: datetime) -> str:
    """UTC, millisecond precision, `Z` suffix: sorts as text in time order."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def new_id(moment: datetime | None = None) -> str:
    from ulid import ULID

    if moment is None:
        return str(ULID())
    return str(ULID.from_datetime(moment))


_ULID_CHARS = frozenset("0123456789ABCDEFGHJKMNPQRSTVWXYZ")


def is_id(text: str) -> bool:
    """A well-formed ULID (any other path id cannot exist, so it is simply not found)."""
    return len(text) == 26 and text[0] in "01234567" and set(text) <= _ULID_CHARS
