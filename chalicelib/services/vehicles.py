"""Vehicle use cases: register a customer's vehicle, read it by VIN, find it by plate (the service desk's
screen-pop), list a customer's vehicles, change it (If-Match; a new owner keeps the vehicle's history)."""

from __future__ import annotations

from datetime import date

from chalicelib.config import STALE_READ_ATTEMPTS, settings
from chalicelib.domain import vehicles as rules
from chalicelib.domain.access import Access
from chalicelib.domain.clock import local_today, utcnow
from chalicelib.domain.errors import Conflict, FieldError, NotFound, StaleRead, ValidationFailed
from chalicelib.domain.vehicles import NewVehicle, Vehicle, VehicleChanges, VehicleTaken
from chalicelib.domain.versions import require_if_match
from chalicelib.persistence import vehicles as repo
from chalicelib.services import customers


def today() -> date:
    return local_today(settings().timezone)


def _named_to_whom_may_see(access: Access, error: VehicleTaken) -> Conflict:
    """A 409 names the vehicle that holds the VIN or plate only to a caller who may see it (docs/security.md)."""
    if error.holder_vin and error.holder_branch and access.may_see(error.holder_branch):
        return Conflict(error.detail, field=error.field, existing_vin=error.holder_vin)
    return error


def _check_dates(year: int, purchase_date: str | None, warranty_end: str | None) -> None:
    problems = rules.check_dates(year, purchase_date, warranty_end, today())
    if problems:
        raise ValidationFailed([FieldError(f, m) for f, m in problems])


def create(access: Access, customer_id: str, new: NewVehicle) -> Vehicle:
    """The vehicle takes its owner's branch, which its write checks: an owner moved meanwhile is read again."""
    _check_dates(new.year, new.purchase_date, new.warranty_end)
    for _ in range(STALE_READ_ATTEMPTS):
        owner = customers.get(access, customer_id)
        vehicle = rules.create(new, owner=owner, by=access.principal.sub, now=utcnow())
        try:
            repo.create(vehicle)
        except VehicleTaken as error:
            raise _named_to_whom_may_see(access, error) from None
        except StaleRead:
            continue
        return vehicle
    raise StaleRead("The customer kept changing; retry.")


def get(access: Access, vin: str) -> Vehicle:
    try:
        vin = rules.normalize_vin(vin)
    except ValueError:
        raise NotFound("No such record.") from None  # no vehicle can have it
    vehicle = repo.get(vin)
    if vehicle is None:
        raise NotFound("No such record.")
    access.check_branch(vehicle.branch_id)
    return vehicle


def lookup(access: Access, plate: rules.Plate) -> Vehicle:
    """Two requests: the plate's guard (vin and branch: the access check needs nothing else), then the vehicle's
    partition (the vehicle with its owner's copy and its history). Another branch's plate is not found, like one
    nobody has."""
    guard = repo.plate_holder(plate.key)
    if guard is None or not access.may_see(guard.branch_id):
        raise NotFound("No such record.")
    vehicle = repo.get(guard.vin)
    if vehicle is None or not access.may_see(vehicle.branch_id):
        raise NotFound("No such record.")  # changed between the two reads
    # a vehicle that changed branch keeps the old branch's appointments and work orders: those stay theirs
    vehicle.bookings = [b for b in vehicle.bookings if access.may_see(b.branch_id or vehicle.branch_id)]
    vehicle.work_orders = [w for w in vehicle.work_orders if access.may_see(w.branch_id)]
    return vehicle


def of_customer(access: Access, customer_id: str) -> list[dict[str, object]]:
    customers.get(access, customer_id)
    return repo.of_customer(customer_id)


def update(access: Access, vin: str, if_match: str | None, changes: VehicleChanges) -> Vehicle:
    """A JSON merge patch made only to the version named in If-Match. A new owner must be a customer the caller
    may see; the vehicle moves to their branch, its history stays with it."""
    for _ in range(STALE_READ_ATTEMPTS):
        current = get(access, vin)
        require_if_match(if_match, current.version, "vehicle")
        new_owner = None
        if "owner_id" in changes.sent and changes.owner_id != current.owner_id:
            try:
                new_owner = customers.get(access, changes.owner_id or "")
            except NotFound:
                raise ValidationFailed([FieldError("owner_id", "is not a customer you may see")]) from None
        updated, _ = rules.change(current, changes, new_owner=new_owner, by=access.principal.sub, now=utcnow())
        if updated is current:
            return current
        _check_dates(updated.year, updated.purchase_date, updated.warranty_end)
        try:
            repo.update(current, updated)
        except VehicleTaken as error:
            raise _named_to_whom_may_see(access, error) from None
        except StaleRead:
            continue  # the owner moved or is being erased: read both again
        return updated
    raise StaleRead("The vehicle's owner kept changing; retry.")
