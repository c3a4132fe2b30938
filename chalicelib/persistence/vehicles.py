"""Vehicles in DynamoDB (docs/data-model.md):

- `VEH#<vin>` / `VEHICLE` the vehicle, `H#<at>#<n>` its history (one Query reads both);
- `PLATE#<plate key>` / `GUARD`: a plate is one vehicle's (with its branch: the desk's lookup checks access on it);
- `C#<owner>` / `VEH#<vin>`: the owner's link with what their vehicle list shows.

Every transaction that writes a link into an owner's partition checks that owner is a live customer
(`live_customer`), so an erasure holds: once it began no link lands there again, and the erasure detaches each
vehicle it finds linked (`detach`: the owner goes, the vehicle and its history stay).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from pynamodb.exceptions import TransactWriteError, UpdateError
from pynamodb.transactions import TransactWrite

from chalicelib.domain.clock import iso, utcnow
from chalicelib.domain.errors import NotFound, PreconditionFailed, StaleRead
from chalicelib.domain.history import HistoryEntry
from chalicelib.domain.vehicles import Booking, OwnerCopy, Vehicle, VehicleTaken, WorkOrderRef
from chalicelib.persistence.errors import translated
from chalicelib.persistence.paging import history_items, record_with_history
from chalicelib.persistence.tables import (
    GUARD_SK,
    PROFILE_SK,
    AppointmentRefItem,
    CustomerItem,
    PlateGuardItem,
    VehicleHistoryItem,
    VehicleItem,
    VehicleLinkItem,
    WorkOrderRefItem,
    customer_pk,
)
from chalicelib.persistence.tx import conflicted, connection, live_customer

VEHICLE_SK = "VEHICLE"
LINK_PREFIX = "VEH#"
ATTEMPTS = 5


def vehicle_pk(vin: str) -> str:
    return f"VEH#{vin}"


def plate_pk(plate_key: str) -> str:
    return f"PLATE#{plate_key}"


def to_item(v: Vehicle) -> VehicleItem:
    return VehicleItem(
        pk=vehicle_pk(v.vin), sk=VEHICLE_SK, vin=v.vin, plate_key=v.plate_key, plate_no=v.plate_no, make=v.make,
        model=v.model, year=v.year, color=v.color, owner_id=v.owner_id, branch_id=v.branch_id, engine_no=v.engine_no,
        owner_name=v.owner.name if v.owner else None, owner_phone=v.owner.phone if v.owner else None,
        owner_language=v.owner.language if v.owner else None,
        purchase_date=v.purchase_date, warranty_end=v.warranty_end, last_service_date=v.last_service_date,
        last_odometer_km=v.last_odometer_km, created_at=v.created_at, updated_at=v.updated_at,
        created_by=v.created_by, version=v.version)


def from_item(item: VehicleItem, history: list[HistoryEntry] | None = None) -> Vehicle:
    return Vehicle(
        vin=item.vin, plate_key=item.plate_key, plate_no=item.plate_no, make=item.make, model=item.model,
        year=int(item.year), color=item.color, owner_id=item.owner_id, branch_id=item.branch_id,
        created_at=item.created_at, updated_at=item.updated_at, created_by=item.created_by, engine_no=item.engine_no,
        purchase_date=item.purchase_date, warranty_end=item.warranty_end, last_service_date=item.last_service_date,
        last_odometer_km=int(item.last_odometer_km) if item.last_odometer_km is not None else None,
        version=int(item.version), history=history or [],
        owner=OwnerCopy(item.owner_name, item.owner_phone, item.owner_language or "id")
        if item.owner_name and item.owner_phone else None)


def _link(v: Vehicle) -> VehicleLinkItem:
    assert v.owner_id is not None
    return VehicleLinkItem(pk=customer_pk(v.owner_id), sk=f"{LINK_PREFIX}{v.vin}", vin=v.vin, plate_no=v.plate_no,
                           make=v.make, model=v.model, year=v.year, color=v.color)


def _guard(v: Vehicle) -> PlateGuardItem:
    return PlateGuardItem(pk=plate_pk(v.plate_key), sk=GUARD_SK, vin=v.vin, branch_id=v.branch_id)


def _history(v: Vehicle, entries: list[HistoryEntry], first_seq: int) -> list[VehicleHistoryItem]:
    return history_items(VehicleHistoryItem, vehicle_pk(v.vin), entries, first_seq)


def _taken(exc: TransactWriteError) -> VehicleTaken | None:
    """The vehicle or plate guard that failed its `does not exist` condition, as the holder it names."""
    for reason in exc.cancellation_reasons or []:
        if reason is None or reason.code != "ConditionalCheckFailed" or not reason.raw_item:
            continue
        old = reason.raw_item
        kind = old.get("type", {}).get("S")
        if kind in ("vehicle", "plate"):
            return VehicleTaken("vin" if kind == "vehicle" else "plate_no", old.get("vin", {}).get("S"),
                                old.get("branch_id", {}).get("S"))
    return None


def create(v: Vehicle) -> None:
    """One transaction: the owner is a live customer of the vehicle's branch, the vehicle and its plate are new,
    the owner's link and the first history entry. VehicleTaken naming the holder; StaleRead when the owner
    changed meanwhile (the use case reads again)."""
    try:
        with translated(), TransactWrite(connection=connection()) as tx:
            assert v.owner_id is not None
            tx.condition_check(CustomerItem, customer_pk(v.owner_id), PROFILE_SK, condition=live_customer(v.branch_id))
            tx.save(to_item(v), condition=VehicleItem.pk.does_not_exist(), return_values="ALL_OLD")
            tx.save(_guard(v), condition=PlateGuardItem.pk.does_not_exist(), return_values="ALL_OLD")
            tx.save(_link(v))
            for h in _history(v, v.history, 0):
                tx.save(h)
    except TransactWriteError as exc:
        taken = _taken(exc)
        if taken is not None:
            raise taken from exc
        raise StaleRead("The customer changed meanwhile; retry.") from exc


def get(vin: str, *, consistent: bool = False) -> Vehicle | None:
    """The vehicle with its history and its appointments' and work orders' refs: one Query of its partition."""
    found, history, items = record_with_history(vehicle_pk(vin), VehicleItem, VehicleHistoryItem,
                                                consistent=consistent)
    if found is None:
        return None
    vehicle = from_item(found, history)
    vehicle.bookings = [Booking(b.appointment_id, b.service_type, b.slot_start, b.status, b.branch_id)
                        for b in items if isinstance(b, AppointmentRefItem)]
    vehicle.work_orders = [WorkOrderRef(w.work_order_id, w.status, w.stage, w.eta, w.branch_id)
                           for w in items if isinstance(w, WorkOrderRefItem)]
    return vehicle


def plate_holder(plate_key: str) -> PlateGuardItem | None:
    """The plate's guard (vin, owner, branch): one GetItem."""
    with translated():
        try:
            return PlateGuardItem.get(plate_pk(plate_key), GUARD_SK)
        except PlateGuardItem.DoesNotExist:
            return None


def of_customer(customer_id: str) -> list[dict[str, Any]]:
    """The customer's vehicles as their links show them (plate, make, model, year, colour): one Query."""
    with translated():
        return [{"vin": x.vin, "plate_no": x.plate_no, "make": x.make, "model": x.model, "year": int(x.year),
                 "color": x.color}
                for x in VehicleLinkItem.query(customer_pk(customer_id), VehicleLinkItem.sk.startswith(LINK_PREFIX))
                if isinstance(x, VehicleLinkItem)]


def update(old: Vehicle, new: Vehicle) -> None:
    """The vehicle if its version is unchanged, with its new history entries, its plate guard (moved with a new
    plate) and its owner's link (moved to a new owner, who must be a live customer of the vehicle's branch)."""
    added = new.history[len(old.history):]
    try:
        with translated(), TransactWrite(connection=connection()) as tx:
            tx.save(to_item(new), condition=VehicleItem.version == old.version)
            for h in _history(new, added, len(old.history)):
                tx.save(h)
            if new.plate_key != old.plate_key:
                tx.delete(PlateGuardItem(pk=plate_pk(old.plate_key), sk=GUARD_SK),
                          condition=PlateGuardItem.vin == old.vin)
                tx.save(_guard(new), condition=PlateGuardItem.pk.does_not_exist(), return_values="ALL_OLD")
            elif new.branch_id != old.branch_id:
                tx.save(_guard(new), condition=PlateGuardItem.vin == new.vin)
            if old.owner_id and old.owner_id != new.owner_id:
                tx.delete(VehicleLinkItem(pk=customer_pk(old.owner_id), sk=f"{LINK_PREFIX}{old.vin}"))
            if new.owner_id:  # the owner must be live (an erasure that began detaches the vehicle instead)
                tx.condition_check(CustomerItem, customer_pk(new.owner_id), PROFILE_SK,
                                   condition=live_customer(new.branch_id))
                tx.save(_link(new))
    except TransactWriteError as exc:
        taken = _taken(exc)
        if taken is not None:
            raise taken from exc
        if conflicted(exc):
            raise PreconditionFailed("The vehicle was changed by someone else; fetch it again.") from exc
        current = get(old.vin, consistent=True)
        if current is None:
            raise NotFound("No such record.") from exc
        if current.version != old.version:
            raise PreconditionFailed("The vehicle was changed by someone else; fetch it again.") from exc
        raise StaleRead("The owner changed meanwhile; retry.") from exc


def detach(vin: str, customer_id: str) -> bool:
    """The vehicle kept without its erased owner and their copy (its history says the owner went, not who): False if
    it was gone or is someone else's. The link is the erasure's to delete."""
    for _ in range(ATTEMPTS):
        v = get(vin, consistent=True)
        if v is None or v.owner_id != customer_id:
            return False
        at = iso(utcnow())
        entry = HistoryEntry(at=at, by="erasure", change="owner_erased")
        kept = replace(v, owner_id=None, owner=None, updated_at=at, version=v.version + 1,
                       history=[*v.history, entry])
        try:
            with translated(), TransactWrite(connection=connection()) as tx:
                tx.save(to_item(kept), condition=VehicleItem.version == v.version)
                for h in _history(kept, [entry], len(v.history)):
                    tx.save(h)
        except TransactWriteError:
            continue  # changed meanwhile: read it again
        return True
    raise StaleRead("The vehicle kept changing during the erasure; retry.")


def _moved_on(customer_id: str, branch_id: str) -> bool:
    from chalicelib.persistence.customers import branch_of

    return branch_of(customer_id) != branch_id


def follow_owner(customer_id: str, branch_id: str) -> int:
    """The customer's vehicles move to the branch the customer moved to (each one transaction: the vehicle if it is
    still theirs and elsewhere, and its plate guard); returns how many moved."""
    moved = 0
    for link in of_customer(customer_id):
        for _ in range(ATTEMPTS):
            v = get(link["vin"], consistent=True)
            if v is None or v.owner_id != customer_id or v.branch_id == branch_id:
                break
            new = replace(v, branch_id=branch_id, version=v.version + 1)
            try:
                with translated(), TransactWrite(connection=connection()) as tx:
                    # to where the customer still is: a late call for an earlier move moves nothing back
                    tx.condition_check(CustomerItem, customer_pk(customer_id), PROFILE_SK,
                                       condition=live_customer(branch_id))
                    tx.save(to_item(new), condition=VehicleItem.version == v.version)
                    tx.save(_guard(new), condition=PlateGuardItem.vin == v.vin)
            except TransactWriteError as exc:
                if not conflicted(exc) and _moved_on(customer_id, branch_id):
                    return moved
                continue
            moved += 1
            break
    return moved


def refresh_owner(customer_id: str, owner: OwnerCopy) -> int:
    """The copy of the owner on each of their vehicles, where it differs (one conditional update each: still
    theirs); returns how many changed. From the stream, when the profile's name, phone or language changed."""
    changed = 0
    for link in of_customer(customer_id):
        try:
            with translated():
                VehicleItem(pk=vehicle_pk(link["vin"]), sk=VEHICLE_SK).update(
                    # a new version: a PATCH that read the old copy cannot put it back
                    actions=[VehicleItem.owner_name.set(owner.name), VehicleItem.owner_phone.set(owner.phone),
                             VehicleItem.owner_language.set(owner.language), VehicleItem.version.add(1)],
                    condition=(VehicleItem.owner_id == customer_id) & (
                        (VehicleItem.owner_name != owner.name) | (VehicleItem.owner_phone != owner.phone)
                        | (VehicleItem.owner_language != owner.language)))
        except UpdateError as exc:
            if exc.cause_response_code == "ConditionalCheckFailedException":
                continue  # someone else's now, or already right
            raise
        changed += 1
    return changed
