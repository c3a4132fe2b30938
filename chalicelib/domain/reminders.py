"""Reminders: who is due one on a day, when it may be sent, what it says, and to whom (pure).

Two kinds, found through sparse indexes by the daily job
(chalicelib/workflows/reminders.py), never by reading every customer:

- a birthday greeting on the customer's month-day; someone born on 29
  February is greeted on 28 February in years without one. A greeting is
  marketing (Purpose.MARKETING): it needs sms_marketing / email_marketing consent.
- a due-date reminder for each due item (next service, installment, warranty
  or contract end...) REMINDER_OFFSETS_DAYS before its due date (T-7, T-1,
  T-0 by default). A service message (Purpose.SERVICE): sent unless the
  customer opted out of all SMS (STOP), whatever their marketing consent.

Each (customer, reminder, day) has one key: the run records one decision per
key (sent or skipped, with its reason), so a second run of the day, a retried
execution or a double fire sends nothing twice. Nothing is sent in the quiet
hours (QUIET_HOURS_START_HOUR to QUIET_HOURS_END_HOUR local time); a run
fired inside them sends at their end.
"""

from __future__ import annotations

import calendar
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from decimal import Decimal
from enum import StrEnum
from typing import Any

from chalicelib.config import QUIET_HOURS_END_HOUR, QUIET_HOURS_START_HOUR, REMINDER_OFFSETS_DAYS
from chalicelib.domain import consent
from chalicelib.domain.consent import Consent, Purpose, Reachable, Route
from chalicelib.domain.customers import Customer
from chalicelib.domain.messages import Message, render


class DueKind(StrEnum):
    SERVICE = "service"
    INSTALLMENT = "installment"
    WARRANTY = "warranty"
    CONTRACT = "contract"
    CUSTOM = "custom"


@dataclass(frozen=True)
class NewDueItem:
    """A due item as staff record it (values checked); the CRM adds id, creator and time."""

    kind: str
    title: str
    due_date: str  # YYYY-MM-DD
    amount: float | None = None
    ref: str | None = None


@dataclass
class DueItem:
    """Something of the customer's that falls due on `due_date` (YYYY-MM-DD, the deployment's calendar)."""

    id: str
    customer_id: str
    kind: str
    title: str
    due_date: str
    created_at: str
    created_by: str
    amount: float | None = None
    ref: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Contact:
    """How to reach a customer: the profile's contact data, as a due item keeps a copy of it.

    Due-date reminders are service messages, so marketing consent is not
    copied (it stays empty) and never needed.
    """

    customer_id: str
    phone: str
    email: str | None
    preferred_channel: str
    language: str
    version: int
    consent: Mapping[str, Consent] = field(default_factory=dict)
    branch_id: str | None = None  # where the reminder's timeline entry is counted (real-time aggregates)


# What a due item's copy of the contact data holds (besides the profile version it was copied from).
CONTACT_FIELDS = ("phone", "email", "preferred_channel", "language", "branch_id")


def contact_of(c: Customer) -> Contact:
    """The copy of a profile's contact data a due item keeps."""
    return Contact(customer_id=c.id, phone=c.phone, email=c.email, preferred_channel=c.preferred_channel,
                   language=c.language, version=c.version, branch_id=c.branch_id)


def contact_changed(old: Customer, new: Customer) -> bool:
    return any(getattr(old, name) != getattr(new, name) for name in CONTACT_FIELDS)


class ReminderKind(StrEnum):
    BIRTHDAY = "birthday"
    DUE = "due"


PURPOSES: dict[ReminderKind, Purpose] = {
    ReminderKind.BIRTHDAY: Purpose.MARKETING,
    ReminderKind.DUE: Purpose.SERVICE,
}


@dataclass(frozen=True)
class Reminder:
    """One reminder of one customer on one day."""

    kind: ReminderKind
    customer_id: str
    day: date
    item: DueItem | None = None  # the due item (kind DUE)

    def __post_init__(self) -> None:
        if (self.kind is ReminderKind.DUE) != (self.item is not None):
            raise ValueError("a due-date reminder, and only one, names its due item")

    @property
    def key(self) -> str:
        """Exactly one decision per (customer, reminder, day) is recorded under this key."""
        what = "birthday" if self.item is None else f"due#{self.item.id}"
        return f"reminder#{self.day.isoformat()}#{self.customer_id}#{what}"

    @property
    def purpose(self) -> Purpose:
        return PURPOSES[self.kind]

    @property
    def ref(self) -> str:
        """The timeline entry's `ref`: the due item's id, or "birthday"."""
        return "birthday" if self.item is None else self.item.id

    @property
    def days_before(self) -> int | None:
        if self.item is None:
            return None
        return (date.fromisoformat(self.item.due_date) - self.day).days


# --------------------------------------------------------------------------
# Who is due on a day
# --------------------------------------------------------------------------


def birthday_month_days(day: date) -> tuple[str, ...]:
    """The month-days (MM-DD) whose customers are greeted on `day`: 29 Feb joins 28 Feb in common years."""
    month_days = [f"{day.month:02d}-{day.day:02d}"]
    if (day.month, day.day) == (2, 28) and not calendar.isleap(day.year):
        month_days.append("02-29")
    return tuple(month_days)


def greeted_on(birthday: str, day: date) -> bool:
    """Whether someone born on `birthday` (YYYY-MM-DD) is greeted on `day`."""
    return birthday[5:10] in birthday_month_days(day)


def due_dates(day: date, offsets: Iterable[int] = REMINDER_OFFSETS_DAYS) -> dict[date, int]:
    """The due dates reminded of on `day` -> how many days ahead they are (T-7, T-1, T-0)."""
    result: dict[date, int] = {}
    for offset in sorted(set(offsets), reverse=True):
        if offset < 0:
            raise ValueError(f"reminder offsets are days before the due date, got {offset}")
        result[day + timedelta(days=offset)] = offset
    return result


# --------------------------------------------------------------------------
# When: quiet hours
# --------------------------------------------------------------------------


def in_quiet_hours(moment: time, start_hour: int = QUIET_HOURS_START_HOUR, end_hour: int = QUIET_HOURS_END_HOUR) -> bool:
    """Whether a local wall-clock time is in the quiet hours [start, end) (the window may cross midnight)."""
    start, end = time(start_hour), time(end_hour)
    wall = moment.replace(tzinfo=None)
    if start == end:
        return False
    if start > end:
        return wall >= start or wall < end
    return start <= wall < end


def send_after(fired_at: datetime, zone: tzinfo, start_hour: int = QUIET_HOURS_START_HOUR,
               end_hour: int = QUIET_HOURS_END_HOUR) -> datetime:
    """The earliest time (UTC) a run fired at `fired_at` may send: then, or the end of the quiet hours."""
    if fired_at.tzinfo is None:
        raise ValueError("fired_at must be timezone-aware")
    local = fired_at.astimezone(zone)
    if not in_quiet_hours(local.time(), start_hour, end_hour):
        return fired_at.astimezone(UTC)
    end = datetime.combine(local.date(), time(end_hour), tzinfo=zone)
    if end <= local:
        end = datetime.combine(local.date() + timedelta(days=1), time(end_hour), tzinfo=zone)
    return end.astimezone(UTC)


def sending_starts(fired_at: datetime, now: datetime, zone: tzinfo) -> datetime:
    """When the messages of a run fired at `fired_at` start going out, started at `now` (UTC).

    The quiet hours are judged at the run's time (the schedule's time, which
    is now in the cloud): fired at 22:00 it waits until 08:00. A run triggered
    now as if it had fired at another time (`make trigger DATE=...`) waits what
    that run would have waited, counted from now: never until a future date,
    and not at all for a past one whose wait is over.
    """
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    allowed = send_after(fired_at, zone)
    return (now + max(timedelta(0), allowed - max(fired_at, now))).astimezone(UTC)


# --------------------------------------------------------------------------
# To whom, and what
# --------------------------------------------------------------------------


def decide(reminder: Reminder, contact: Reachable, *, sms_opted_out: bool) -> Route:
    """The channel and address, or why not: consent for greetings, the STOP list for everything."""
    return consent.route(contact, reminder.purpose, sms_opted_out=sms_opted_out)


SMS_TYPES = {Purpose.MARKETING: "Promotional", Purpose.SERVICE: "Transactional", Purpose.TRANSACTIONAL: "Transactional"}

_MONTHS = {
    "id": ("Januari", "Februari", "Maret", "April", "Mei", "Juni", "Juli", "Agustus", "September", "Oktober",
           "November", "Desember"),
    "en": ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
           "November", "December"),
}
_STOP = {"id": " Balas STOP untuk berhenti.", "en": " Reply STOP to opt out."}


def _language(language: str) -> str:
    return language if language in _MONTHS else "id"


def format_date(day: date, language: str) -> str:
    """`30 November 2026` / `30 Desember 2026`."""
    return f"{day.day} {_MONTHS[_language(language)][day.month - 1]} {day.year}"


def format_amount(amount: float, language: str) -> str:
    """Rupiah: `Rp 1.500.000,50` in Indonesian, `Rp 1,500,000.50` in English (cents only when there are some)."""
    value = Decimal(str(amount)).quantize(Decimal("0.01"))
    whole = int(value)
    cents = int((value - whole) * 100)
    grouped = f"{whole:,}"
    if _language(language) == "id":
        grouped = grouped.replace(",", ".")
        return f"Rp {grouped}" + (f",{cents:02d}" if cents else "")
    return f"Rp {grouped}" + (f".{cents:02d}" if cents else "")


def _when(days_before: int, language: str) -> str:
    if _language(language) == "id":
        return {0: "hari ini", 1: "besok"}.get(days_before, f"dalam {days_before} hari")
    return {0: "today", 1: "tomorrow"}.get(days_before, f"in {days_before} days")


def message(reminder: Reminder, language: str, channel: str | None) -> Message:
    """The text (and email subject) in the customer's language; no names, no contact data."""
    lang = _language(language)
    if reminder.item is None:
        return render("birthday", lang, stop=_STOP[lang] if channel == "sms" else "")
    item = reminder.item
    days = reminder.days_before
    assert days is not None
    amount = f" ({format_amount(item.amount, lang)})" if item.amount is not None else ""
    return render("due_reminder", lang, title=item.title, when=_when(days, lang),
                  date=format_date(date.fromisoformat(item.due_date), lang), amount=amount)
