"""Appointments in DynamoDB (docs/data-model.md):

- `APPT#<id>` / `APPOINTMENT` the appointment, `H#<at>#<n>` its history;
- `C#<customer>` / `APPT#<id>` and `VEH#<vin>` / `A#<slot_start>#<id>`: refs with what the customer's list and the
  desk's lookup show, written in every transaction that writes the appointment;
- `SLOT#<branch>#<local day>` / `<HH>`: the places booked in an hour.

A booking is one transaction: the customer is live in the branch, the vehicle is theirs, and each hour it takes
gains a place only while it has one (`n < bays`), so ten bookings racing for four places make four appointments.
A cancel gives the places back in the same transaction that cancels.
"""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

from pynamodb.exceptions import TransactWriteError
from pynamodb.transactions import TransactWrite

from chalicelib.domain.appointments import HOLDS_PLACES, Appointment
from chalicelib.domain.errors import NotFound, PreconditionFailed, StaleRead
from chalicelib.domain.history import HistoryEntry
from chalicelib.persistence.errors import translated
from chalicelib.persistence.paging import history_items, record_with_history
from chalicelib.persistence.tables import (
    PROFILE_SK,
    AppointmentHistoryItem,
    AppointmentItem,
    AppointmentRefItem,
    CustomerItem,
    Item,
    SlotItem,
    VehicleItem,
    customer_pk,
)
from chalicelib.persistence.tx import conflicted, connection, failed_codes, live_customer
from chalicelib.persistence.vehicles import VEHICLE_SK, vehicle_pk

APPOINTMENT_SK = "APPOINTMENT"
LINK_PREFIX = "APPT#"
VEHICLE_REF_PREFIX = "A#"


class SlotFull(Exception):
    """An hour the booking takes has no place left."""


class NotTheirVehicle(Exception):
    """The VIN is no vehicle of this customer (any more)."""


def appointment_pk(appointment_id: str) -> str:
    return f"APPT#{appointment_id}"


def slot_pk(branch_id: str, day: date) -> str:
    return f"SLOT#{branch_id}#{day.isoformat()}"


def to_item(a: Appointment) -> AppointmentItem:
    return AppointmentItem(pk=appointment_pk(a.id), sk=APPOINTMENT_SK, id=a.id, customer_id=a.customer_id,
                           branch_id=a.branch_id, vin=a.vin, service_type=a.service_type, slot_start=a.slot_start,
                           slot_end=a.slot_end, status=a.status, notes=a.notes, created_at=a.created_at,
                           updated_at=a.updated_at, created_by=a.created_by, version=a.version)


def from_item(item: AppointmentItem, history: list[HistoryEntry] | None = None) -> Appointment:
    return Appointment(id=item.id, customer_id=item.customer_id, branch_id=item.branch_id, vin=item.vin,
                       service_type=item.service_type, slot_start=item.slot_start, slot_end=item.slot_end,
                       status=item.status, created_at=item.created_at, updated_at=item.updated_at,
                       created_by=item.created_by, notes=item.notes, version=int(item.version),
                       history=history or [])


def _refs(a: Appointment) -> list[AppointmentRefItem]:
    keys = [(customer_pk(a.customer_id), f"{LINK_PREFIX}{a.id}"),
            (vehicle_pk(a.vin), f"{VEHICLE_REF_PREFIX}{a.slot_start}#{a.id}")]
    return [AppointmentRefItem(pk=pk, sk=sk, appointment_id=a.id, branch_id=a.branch_id, vin=a.vin,
                               service_type=a.service_type, slot_start=a.slot_start, status=a.status)
            for pk, sk in keys]


def _history(a: Appointment, entries: list[HistoryEntry], first_seq: int) -> list[AppointmentHistoryItem]:
    return history_items(AppointmentHistoryItem, appointment_pk(a.id), entries, first_seq)


def _slot(branch_id: str, hour: datetime) -> SlotItem:
    return SlotItem(pk=slot_pk(branch_id, hour.date()), sk=f"{hour.hour:02d}")


def book(a: Appointment, hours: list[datetime], bays: int) -> None:
    """One transaction (see the module). SlotFull, NotTheirVehicle, or StaleRead when the customer changed."""
    try:
        with translated(), TransactWrite(connection=connection()) as tx:
            tx.condition_check(CustomerItem, customer_pk(a.customer_id), PROFILE_SK,
                               condition=live_customer(a.branch_id))
            tx.condition_check(VehicleItem, vehicle_pk(a.vin), VEHICLE_SK,
                               condition=VehicleItem.owner_id == a.customer_id)
            tx.save(to_item(a), condition=AppointmentItem.pk.does_not_exist())
            for ref in _refs(a):
                tx.save(ref)
            for h in _history(a, a.history, 0):
                tx.save(h)
            for hour in hours:
                tx.update(_slot(a.branch_id, hour), actions=[SlotItem.n.add(1), SlotItem.type.set(SlotItem)],
                          condition=SlotItem.n.does_not_exist() | (SlotItem.n < bays))
    except TransactWriteError as exc:
        codes = failed_codes(exc)
        if conflicted(exc):
            raise StaleRead("Another booking was working on the same slot; retry.") from exc
        if codes[:1] == ["ConditionalCheckFailed"]:
            raise StaleRead("The customer changed meanwhile; retry.") from exc
        if codes[1:2] == ["ConditionalCheckFailed"]:
            raise NotTheirVehicle() from exc
        if "ConditionalCheckFailed" in codes[-len(hours):]:
            raise SlotFull() from exc
        raise


def booked(branch_id: str, day: date) -> dict[int, int]:
    """Places booked per local hour of the day: one Query."""
    with translated():
        return {int(x.sk): int(x.n) for x in SlotItem.query(slot_pk(branch_id, day), consistent_read=True)
                if isinstance(x, SlotItem)}


def get(appointment_id: str, *, consistent: bool = False) -> Appointment | None:
    found, history, _ = record_with_history(appointment_pk(appointment_id), AppointmentItem, AppointmentHistoryItem,
                                            consistent=consistent)
    return None if found is None else from_item(found, history)


def update(old: Appointment, new: Appointment, zone: ZoneInfo) -> None:
    """The appointment if its version is unchanged, its history and refs, and the places back when it stops
    holding them (cancelled)."""
    try:
        with translated(), TransactWrite(connection=connection()) as tx:
            add_update(tx, old, new, zone)
    except TransactWriteError as exc:
        if conflicted(exc):
            raise PreconditionFailed("The appointment was changed by someone else; fetch it again.") from exc
        current = get(old.id, consistent=True)
        if current is None:
            raise NotFound("No such record.") from exc
        raise PreconditionFailed("The appointment was changed by someone else; fetch it again.") from exc


def add_update(tx: TransactWrite, old: Appointment, new: Appointment, zone: ZoneInfo) -> None:
    """The writes of an appointment's change, added to `tx` (its own, or a work order's at check-in)."""
    added = new.history[len(old.history):]
    gives_back = old.status in HOLDS_PLACES and new.status == "cancelled"
    tx.save(to_item(new), condition=AppointmentItem.version == old.version)
    for h in _history(new, added, len(old.history)):
        tx.save(h)
    for ref in _refs(new):
        tx.save(ref)
    if gives_back:
        for hour in old.local_hours(zone):
            tx.update(_slot(old.branch_id, hour), actions=[SlotItem.n.add(-1)], condition=SlotItem.n > 0)


def of_customer(customer_id: str) -> list[AppointmentRefItem]:
    with translated():
        return [x for x in AppointmentRefItem.query(customer_pk(customer_id),
                                                    AppointmentRefItem.sk.startswith(LINK_PREFIX))
                if isinstance(x, AppointmentRefItem)]


def erase(appointment_id: str, zone: ZoneInfo) -> int:
    """An erased customer's appointment goes whole (its notes are theirs): the appointment, its refs and, while it
    still held places, the places back, in one transaction; then its history. Returns the items deleted."""
    for _ in range(5):
        a = get(appointment_id, consistent=True)
        if a is None:
            return 0
        try:
            with translated(), TransactWrite(connection=connection()) as tx:
                tx.delete(to_item(a), condition=AppointmentItem.version == a.version)
                for ref in _refs(a):
                    tx.delete(ref)
                if a.status in HOLDS_PLACES:
                    for hour in a.local_hours(zone):
                        tx.update(_slot(a.branch_id, hour), actions=[SlotItem.n.add(-1)], condition=SlotItem.n > 0)
        except TransactWriteError:
            continue  # changed meanwhile: read it again
        history = _history(a, a.history, 0)
        with translated(), Item.batch_write() as batch:
            for h in history:
                batch.delete(h)
        return 3 + len(history)
    raise StaleRead("The appointment kept changing during the erasure; retry.")
