"""Workshop appointments: a vehicle booked into a branch's workshop for a service, in hourly slots with a fixed
number of places (bays), and the appointment's lifecycle with history.

A service type takes one or more consecutive slots of one day (`SLOTS_NEEDED`); a booking takes a place in each,
atomically (chalicelib/persistence/appointments.py), so a slot never holds more than its bays. The workshop's
hours, days, bays and holidays are configuration (chalicelib/config.py `workshop()`), in local time.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import date, datetime, time, timedelta
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo

from chalicelib.config import Workshop
from chalicelib.domain.clock import iso
from chalicelib.domain.errors import Conflict, FieldError
from chalicelib.domain.history import HistoryEntry
from chalicelib.domain.versions import etag_for

NOTES_MAX_CHARS = 500
NEXT_FREE_SHOWN = 3


class ServiceType(StrEnum):
    PERIODIC = "periodic"
    REPAIR = "repair"
    INSPECTION = "inspection"
    WARRANTY = "warranty"
    BODY_PAINT = "body_paint"


SLOTS_NEEDED: dict[str, int] = {ServiceType.PERIODIC: 1, ServiceType.REPAIR: 2, ServiceType.INSPECTION: 1,
                                ServiceType.WARRANTY: 2, ServiceType.BODY_PAINT: 4}


class Status(StrEnum):
    BOOKED = "booked"
    CONFIRMED = "confirmed"
    CHECKED_IN = "checked_in"
    COMPLETED = "completed"
    CANCELLED = "cancelled"
    NO_SHOW = "no_show"


S = Status
NEXT: dict[str, tuple[str, ...]] = {
    S.BOOKED: (S.CONFIRMED, S.CHECKED_IN, S.CANCELLED, S.NO_SHOW),
    S.CONFIRMED: (S.CHECKED_IN, S.CANCELLED, S.NO_SHOW),
    S.CHECKED_IN: (S.COMPLETED,),
    S.COMPLETED: (),
    S.CANCELLED: (),
    S.NO_SHOW: (),
}
HOLDS_PLACES = frozenset({S.BOOKED, S.CONFIRMED})  # a cancel gives the places back


@dataclass(frozen=True)
class Slot:
    start: datetime  # aware, local
    end: datetime
    capacity: int
    free: int

    def to_dict(self) -> dict[str, Any]:
        return {"slot_start": self.start.isoformat(), "slot_end": self.end.isoformat(), "capacity": self.capacity,
                "free": self.free}


def opens_on(day: date, shop: Workshop) -> bool:
    return day.weekday() in shop.days and day.isoformat() not in shop.holidays


def hours_of(start: datetime, service_type: str, shop: Workshop) -> list[datetime] | None:
    """The slots (local starts) a booking at `start` takes, or None when they do not fit the day's opening hours
    (or the workshop is closed that day, or `start` is not on the hour)."""
    if start.minute or start.second or start.microsecond or not opens_on(start.date(), shop):
        return None
    needed = SLOTS_NEEDED[service_type]
    if start.hour < shop.hours[0] or start.hour + needed > shop.hours[1]:
        return None
    return [start + timedelta(hours=n) for n in range(needed)]


def day_slots(day: date, service_type: str, shop: Workshop, zone: ZoneInfo, booked: dict[int, int],
              capacity: int, now: datetime) -> list[Slot]:
    """Every start the service type fits on `day`, with its free places (the least free of the hours it takes);
    none on a closed day, none that already began."""
    if not opens_on(day, shop):
        return []
    needed = SLOTS_NEEDED[service_type]
    found: list[Slot] = []
    for hour in range(shop.hours[0], shop.hours[1] - needed + 1):
        start = datetime.combine(day, time(hour), tzinfo=zone)
        if start <= now:
            continue
        free = min(capacity - booked.get(hour + n, 0) for n in range(needed))
        found.append(Slot(start, start + timedelta(hours=needed), capacity, max(free, 0)))
    return found


def check_start(start: datetime, service_type: str, shop: Workshop, now: datetime) -> list[FieldError]:
    problems: list[FieldError] = []
    if start <= now:
        problems.append(FieldError("slot_start", "is in the past"))
    elif start.date() > (now + timedelta(days=shop.booking_days_ahead)).date():
        problems.append(FieldError("slot_start", f"is more than {shop.booking_days_ahead} days ahead"))
    elif hours_of(start, service_type, shop) is None:
        opening = f"{shop.hours[0]:02d}:00-{shop.hours[1]:02d}:00"
        problems.append(FieldError("slot_start", f"is not a slot start for {service_type} "
                                                 f"({SLOTS_NEEDED[service_type]} h on the hour, {opening}, on a day "
                                                 "the workshop opens)"))
    return problems


def reminder_at(slot_start: str, zone: ZoneInfo, quiet: tuple[int, int] | None) -> datetime:
    """When the day-before reminder goes: the same local time a day earlier, or, when that falls in the quiet
    hours (`quiet` = (start, end) local hours, across midnight), an hour before they begin that evening: moved
    earlier, never skipped."""
    at = datetime.fromisoformat(slot_start).astimezone(zone) - timedelta(days=1)
    if quiet is None:
        return at
    start, end = quiet
    hour = at.hour
    inside = (hour >= start or hour < end) if start > end else start <= hour < end
    if not inside:
        return at
    evening = at.date() - timedelta(days=1) if hour < end and start > end else at.date()
    return datetime.combine(evening, time(max(start - 1, 0)), tzinfo=zone)


@dataclass(frozen=True)
class NewAppointment:
    vin: str
    slot_start: datetime  # aware
    service_type: str
    notes: str | None = None


@dataclass
class Appointment:
    id: str
    customer_id: str
    branch_id: str
    vin: str
    service_type: str
    slot_start: str  # ISO UTC
    slot_end: str
    status: str
    created_at: str
    updated_at: str
    created_by: str
    notes: str | None = None
    version: int = 1
    history: list[HistoryEntry] = field(default_factory=list)

    @property
    def etag(self) -> str:
        return etag_for(self.version)

    def local_hours(self, zone: ZoneInfo) -> list[datetime]:
        start = datetime.fromisoformat(self.slot_start).astimezone(zone)
        end = datetime.fromisoformat(self.slot_end).astimezone(zone)
        return [start + timedelta(hours=n) for n in range(int((end - start).total_seconds() // 3600))]

    def to_dict(self, zone: ZoneInfo) -> dict[str, Any]:
        return {
            "id": self.id, "customer_id": self.customer_id, "branch_id": self.branch_id, "vin": self.vin,
            "service_type": self.service_type,
            "slot_start": datetime.fromisoformat(self.slot_start).astimezone(zone).isoformat(),
            "slot_end": datetime.fromisoformat(self.slot_end).astimezone(zone).isoformat(),
            "status": self.status, "notes": self.notes, "created_at": self.created_at,
            "updated_at": self.updated_at, "version": self.version,
            "history": [h.to_dict() for h in self.history],
        }



def create(appointment_id: str, customer_id: str, branch_id: str, new: NewAppointment, *, by: str,
           now: datetime) -> Appointment:
    stamp = iso(now)
    end = new.slot_start + timedelta(hours=SLOTS_NEEDED[new.service_type])
    return Appointment(id=appointment_id, customer_id=customer_id, branch_id=branch_id, vin=new.vin,
                       service_type=new.service_type, slot_start=iso(new.slot_start), slot_end=iso(end),
                       status=S.BOOKED.value, created_at=stamp, updated_at=stamp, created_by=by, notes=new.notes,
                       history=[HistoryEntry(stamp, by, "created", None, S.BOOKED.value)])


def change(current: Appointment, *, status: str | None, notes: str | None, notes_sent: bool, by: str,
           now: datetime) -> Appointment:
    """A move along the lifecycle (409 naming the allowed next states) and/or new notes; the same object back when
    nothing changes."""
    stamp = iso(now)
    fields: dict[str, Any] = {}
    entries: list[HistoryEntry] = []
    if status is not None and status != current.status:
        allowed = NEXT[current.status]
        if status not in allowed:
            raise Conflict(f"An appointment that is {current.status} cannot become {status} "
                           f"(allowed: {', '.join(allowed) or 'none'}).", allowed=list(allowed))
        fields["status"] = status
        entries.append(HistoryEntry(stamp, by, "status", current.status, status))
    if notes_sent and notes != current.notes:
        fields["notes"] = notes
        entries.append(HistoryEntry(stamp, by, "notes"))  # free text: the history says it changed, not what
    if not fields:
        return current
    return replace(current, **fields, updated_at=stamp, version=current.version + 1,
                   history=[*current.history, *entries])
