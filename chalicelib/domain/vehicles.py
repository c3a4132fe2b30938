"""Vehicles the company sold or services: identified by the VIN, found at the service desk by the plate.

A vehicle belongs to one customer at a time (its owner; none once the owner is erased) and is seen by the
owner's branch, like the owner. A change of owner keeps the vehicle's history with the vehicle: the history
names the change, never the people.

- VIN: ISO 3779, 17 characters of A-Z and 0-9 without I, O and Q (they read as 1 and 0). The check digit in
  position 9 is a North American rule (49 CFR 565), not ISO's, so it is not required.
- Plate (Tanda Nomor Kendaraan Bermotor): a region code of 1-2 letters, 1-4 digits, up to 3 letters. `B 1234 XYZ`,
  `b1234xyz` and `B-1234-XYZ` are one plate: its key is `B1234XYZ`, its display form `B 1234 XYZ`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from chalicelib.domain.clock import iso
from chalicelib.domain.customers import Customer
from chalicelib.domain.errors import Conflict
from chalicelib.domain.history import HistoryEntry
from chalicelib.domain.versions import etag_for

VIN_LENGTH = 17
VIN_PATTERN = re.compile(r"[A-HJ-NPR-Z0-9]{17}")
PLATE_PATTERN = re.compile(r"([A-Z]{1,2})[ .\-]*([0-9]{1,4})[ .\-]*([A-Z]{0,3})")  # ASCII only: one plate, one key
ODOMETER_MAX_KM = 2_000_000
YEAR_MIN = 1950


def normalize_vin(raw: str) -> str:
    """Upper case, spaces dropped; ValueError naming what is wrong."""
    vin = re.sub(r"\s+", "", raw).upper()
    if len(vin) != VIN_LENGTH:
        raise ValueError(f"must be {VIN_LENGTH} characters (ISO 3779), not {len(vin)}")
    wrong = sorted({ch for ch in vin if ch in "IOQ"})
    if wrong:
        raise ValueError(f"may not contain {', '.join(wrong)} (ISO 3779 leaves out I, O and Q)")
    if not VIN_PATTERN.fullmatch(vin):
        raise ValueError("may hold only the letters A-Z and the digits 0-9")
    return vin


@dataclass(frozen=True)
class Plate:
    key: str  # B1234XYZ: what makes two spellings one plate
    display: str  # B 1234 XYZ


def normalize_plate(raw: str) -> Plate:
    """Any spacing, dashes, dots and case; ValueError when it is not an Indonesian plate."""
    match = PLATE_PATTERN.fullmatch(raw.strip().upper())
    if not match:
        raise ValueError("must be an Indonesian plate: a region code of 1-2 letters, 1-4 digits and up to 3 letters, "
                         "e.g. B 1234 XYZ")
    return Plate(key="".join(match.groups()), display=" ".join(part for part in match.groups() if part))


@dataclass(frozen=True)
class NewVehicle:
    vin: str
    plate: Plate
    make: str
    model: str
    year: int
    color: str
    engine_no: str | None = None
    purchase_date: str | None = None
    warranty_end: str | None = None
    last_service_date: str | None = None
    last_odometer_km: int | None = None


WRITABLE = ("plate", "make", "model", "year", "color", "engine_no", "purchase_date", "warranty_end",
            "last_service_date", "last_odometer_km", "owner_id")


@dataclass(frozen=True)
class VehicleChanges:
    """What a PATCH asks for: the fields in `sent` change (`plate` as a Plate; `owner_id`: a change of owner)."""

    sent: frozenset[str]
    plate: Plate | None = None
    make: str | None = None
    model: str | None = None
    year: int | None = None
    color: str | None = None
    engine_no: str | None = None
    purchase_date: str | None = None
    warranty_end: str | None = None
    last_service_date: str | None = None
    last_odometer_km: int | None = None
    owner_id: str | None = None


@dataclass(frozen=True)
class OwnerCopy:
    """What the service desk's screen-pop shows of the owner, kept on the vehicle (the lookup reads the vehicle's
    partition only): refreshed from the stream when the profile changes, gone with the owner's erasure."""

    name: str
    phone: str
    language: str

    @classmethod
    def of(cls, customer: Customer) -> OwnerCopy:
        return cls(name=customer.name, phone=customer.phone, language=customer.language)


@dataclass(frozen=True)
class Booking:
    """One of the vehicle's workshop appointments, as the vehicle's partition keeps it (the desk's lookup)."""

    id: str
    service_type: str
    slot_start: str  # ISO UTC
    status: str
    branch_id: str | None  # the workshop's: a vehicle that changed branch keeps the old branch's bookings


@dataclass(frozen=True)
class WorkOrderRef:
    """One of the vehicle's work orders, as the vehicle's partition keeps it (the desk's lookup)."""

    id: str
    status: str
    stage: str | None
    eta: str  # ISO UTC
    branch_id: str


@dataclass
class Vehicle:
    vin: str
    plate_key: str
    plate_no: str
    make: str
    model: str
    year: int
    color: str
    owner_id: str | None  # None once the owner was erased (the vehicle and its history stay)
    branch_id: str  # the owner's branch: who sees the vehicle
    created_at: str
    updated_at: str
    created_by: str
    engine_no: str | None = None
    purchase_date: str | None = None
    warranty_end: str | None = None
    last_service_date: str | None = None
    last_odometer_km: int | None = None
    version: int = 1
    history: list[HistoryEntry] = field(default_factory=list)
    owner: OwnerCopy | None = None
    bookings: list[Booking] = field(default_factory=list)
    work_orders: list[WorkOrderRef] = field(default_factory=list)

    @property
    def etag(self) -> str:
        return etag_for(self.version)

    def under_warranty(self, today: date) -> bool:
        return self.warranty_end is not None and today.isoformat() <= self.warranty_end

    def to_dict(self, today: date) -> dict[str, Any]:
        return {
            "vin": self.vin, "plate_no": self.plate_no, "make": self.make, "model": self.model, "year": self.year,
            "color": self.color, "engine_no": self.engine_no, "purchase_date": self.purchase_date,
            "warranty_end": self.warranty_end, "under_warranty": self.under_warranty(today),
            "last_service_date": self.last_service_date, "last_odometer_km": self.last_odometer_km,
            "owner_id": self.owner_id, "branch_id": self.branch_id, "created_at": self.created_at,
            "updated_at": self.updated_at, "version": self.version,
            "history": [h.to_dict() for h in self.history[-20:]],
        }

    def next_booking(self, now: str) -> Booking | None:
        """The soonest appointment still to come that holds its places (booked or confirmed)."""
        upcoming = [b for b in self.bookings if b.slot_start >= now and b.status in ("booked", "confirmed")]
        return min(upcoming, key=lambda b: b.slot_start, default=None)

    def desk_view(self, now: str, zone: ZoneInfo) -> dict[str, Any]:
        """What the service desk's screen-pop shows besides the vehicle: the owner, the next appointment and the
        open work orders, times local (the API's lookup and the console's card)."""
        booking = self.next_booking(now)
        return {
            "owner": None if self.owner is None or self.owner_id is None else {
                "id": self.owner_id, "name": self.owner.name, "phone": self.owner.phone,
                "language": self.owner.language},
            "next_appointment": None if booking is None else {
                "id": booking.id, "service_type": booking.service_type, "status": booking.status,
                "slot_start": datetime.fromisoformat(booking.slot_start).astimezone(zone).isoformat()},
            "open_work_orders": [{"id": w.id, "status": w.status, "stage": w.stage,
                                  "eta": datetime.fromisoformat(w.eta).astimezone(zone).isoformat()}
                                 for w in self.open_work_orders()],
        }

    def open_work_orders(self) -> list[WorkOrderRef]:
        """Not closed or cancelled: what the desk asks about (soonest ETA first)."""
        return sorted((w for w in self.work_orders if w.status not in ("closed", "cancelled")), key=lambda w: w.eta)



def create(new: NewVehicle, *, owner: Customer, by: str, now: datetime) -> Vehicle:
    stamp = iso(now)
    return Vehicle(vin=new.vin, plate_key=new.plate.key, plate_no=new.plate.display, make=new.make, model=new.model,
                   year=new.year, color=new.color, owner_id=owner.id, branch_id=owner.branch_id,
                   owner=OwnerCopy.of(owner), created_at=stamp,
                   updated_at=stamp, created_by=by, engine_no=new.engine_no, purchase_date=new.purchase_date,
                   warranty_end=new.warranty_end, last_service_date=new.last_service_date,
                   last_odometer_km=new.last_odometer_km,
                   history=[HistoryEntry(at=stamp, by=by, change="created")])


def change(current: Vehicle, changes: VehicleChanges, *, new_owner: Customer | None, by: str,
           now: datetime) -> tuple[Vehicle, list[HistoryEntry]]:
    """`current` with `changes` applied and the history entries they add; the same object back when nothing
    changes. `new_owner` is the customer `owner_id` names when it changes."""
    stamp = iso(now)
    fields: dict[str, Any] = {}
    entries: list[HistoryEntry] = []
    for name in WRITABLE:
        if name not in changes.sent:
            continue
        if name == "plate":
            plate = changes.plate
            if plate is not None and plate.key != current.plate_key:
                fields.update(plate_key=plate.key, plate_no=plate.display)
                entries.append(HistoryEntry(stamp, by, "plate", current.plate_no, plate.display))
            continue
        value = getattr(changes, name)
        if value == getattr(current, name):
            continue
        fields[name] = value
        if name == "owner_id":  # the history says the owner changed, never who they are
            assert new_owner is not None and new_owner.id == value
            fields.update(branch_id=new_owner.branch_id, owner=OwnerCopy.of(new_owner))
            entries.append(HistoryEntry(stamp, by, "owner", None, None))
        elif name in ("last_service_date", "last_odometer_km"):
            entries.append(HistoryEntry(stamp, by, name, _text(getattr(current, name)), _text(value)))
    if not fields:
        return current, []
    updated = replace(current, **fields, updated_at=stamp, version=current.version + 1,
                      history=[*current.history, *entries])
    return updated, entries


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def check_dates(year: int, purchase_date: str | None, warranty_end: str | None, today: date) -> list[tuple[str, str]]:
    """(field, message) for dates that contradict each other or the calendar."""
    problems: list[tuple[str, str]] = []
    if not YEAR_MIN <= year <= today.year + 1:
        problems.append(("year", f"must be between {YEAR_MIN} and {today.year + 1}"))
    if purchase_date and purchase_date > today.isoformat():
        problems.append(("purchase_date", "is in the future"))
    if purchase_date and warranty_end and warranty_end < purchase_date:
        problems.append(("warranty_end", "is before the purchase date"))
    return problems


class VehicleTaken(Conflict):
    """The VIN or the plate is another vehicle's. Answered as a 409 naming the field only; the use case names the
    vehicle (`existing_vin`) to a caller who may see it (chalicelib/services/vehicles.py)."""

    def __init__(self, field: str, holder_vin: str | None, holder_branch: str | None) -> None:
        what = "VIN" if field == "vin" else "plate"
        super().__init__(f"Another vehicle already has this {what}.", field=field)
        self.field = field
        self.holder_vin = holder_vin
        self.holder_branch = holder_branch


MIN_DAYS_FOR_A_RATE = 30  # a distance rate from fewer days of use says little


def next_service_due(v: Vehicle, months: int, km: int, today: date) -> date | None:
    """When the vehicle's next service falls due: `months` after the last service (or the purchase), or sooner
    when the vehicle covers `km` before that at the rate its odometer shows since its purchase. None without a
    last service or purchase date to count from."""
    base_text = v.last_service_date or v.purchase_date
    if base_text is None:
        return None
    base = date.fromisoformat(base_text)
    month = base.month - 1 + months
    year, month = base.year + month // 12, month % 12 + 1
    by_time = date(year, month, min(base.day, _days_in(year, month)))
    due = by_time
    if v.purchase_date and v.last_odometer_km:
        days_used = (today - date.fromisoformat(v.purchase_date)).days
        if days_used >= MIN_DAYS_FOR_A_RATE:
            days_for_km = km * days_used / v.last_odometer_km
            if days_for_km < (by_time - base).days:  # the distance comes first (and never overflows a date)
                due = base + timedelta(days=int(days_for_km))
    return due


def _days_in(year: int, month: int) -> int:
    import calendar

    return calendar.monthrange(year, month)[1]


def service_due_id(vin: str) -> str:
    """The id of the vehicle's service due item: made from the VIN (a ULID's shape, so the due-item routes take
    it), the same every time, so the item is replaced, never doubled."""
    import hashlib

    alphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
    digest = int.from_bytes(hashlib.sha256(f"service-due#{vin}".encode()).digest()[:16], "big")
    tail = "".join(alphabet[(digest >> (5 * n)) & 31] for n in range(25))
    return "0" + tail
