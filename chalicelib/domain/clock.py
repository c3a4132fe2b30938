"""Time and identifiers: UTC ISO-8601 with Z, time-sortable ULIDs."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

_AT: ContextVar[datetime | None] = ContextVar("relasi_clock_at", default=None)


def utcnow() -> datetime:
    """Now, or the moment `at()` set for this context."""
    return _AT.get() or datetime.now(UTC)


def local_today(timezone: str) -> date:
    """Today's date where the company is (the TIMEZONE setting), at `utcnow()`."""
    return utcnow().astimezone(ZoneInfo(timezone)).date()


@contextmanager
def at(moment: datetime) -> Iterator[None]:
    """Run the use cases as if it were `moment` (UTC), in this context only (other threads keep the real time).

    For history made after the fact: the demo data's 18 months (infra/seed.py), an import from an older
    system. Everything a use case stamps (ids, created_at, deadlines, history) then carries `moment`.
    """
    token = _AT.set(moment.astimezone(UTC))
    try:
        yield
    finally:
        _AT.reset(token)


def iso(moment: datetime) -> str:
    """UTC, millisecond precision, `Z` suffix: sorts as text in time order. The one formatter of stored times."""
    moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def parse_iso(text: str) -> datetime:
    """An ISO-8601 time (`Z` or an offset; Python 3.11 reads both) as an aware UTC datetime; a time
    without a zone is taken as UTC. Raises ValueError for anything else."""
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def new_id(moment: datetime | None = None) -> str:
    from ulid import ULID

    if moment is None:
        return str(ULID())
    return str(ULID.from_datetime(moment))


def moment_of(identifier: str) -> datetime:
    """The time (to the millisecond) a ULID made by new_id() was made for."""
    from ulid import ULID

    return ULID.from_str(identifier).datetime


_ULID_CHARS = frozenset("0123456789ABCDEFGHJKMNPQRSTVWXYZ")


def is_id(text: str) -> bool:
    """A well-formed ULID (any other path id cannot exist, so it is simply not found)."""
    return len(text) == 26 and text[0] in "01234567" and set(text) <= _ULID_CHARS
