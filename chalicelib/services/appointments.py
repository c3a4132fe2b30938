"""Appointment use cases: a branch's free slots for a service type, book one for a customer's vehicle (never more
than the bays), read, list a customer's, move one along its lifecycle (a cancel frees its places)."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from chalicelib.config import STALE_READ_ATTEMPTS, settings, workshop
from chalicelib.domain import appointments as rules
from chalicelib.domain.access import Access
from chalicelib.domain.appointments import Appointment, NewAppointment, Slot
from chalicelib.domain.clock import is_id, new_id, utcnow
from chalicelib.domain.errors import Conflict, FieldError, NotFound, StaleRead, ValidationFailed
from chalicelib.domain.versions import require_if_match
from chalicelib.persistence import appointments as repo
from chalicelib.services import customers


def zone() -> ZoneInfo:
    return ZoneInfo(settings().timezone)


def slots(access: Access, branch: str, day: date, service_type: str) -> list[Slot]:
    """The starts on `day` that fit the service type, each with its free places: one Query."""
    access.check_target_branch(branch)
    if branch not in settings().branches:
        raise NotFound("No such branch.")
    shop = workshop()
    return rules.day_slots(day, service_type, shop, zone(), repo.booked(branch, day), shop.bays_of(branch),
                           utcnow().astimezone(zone()))


def _next_free(branch: str, after: datetime, service_type: str, count: int) -> list[Slot]:
    """The next `count` starts with a free place after `after`, looking up to a month ahead (a Query a day)."""
    shop = workshop()
    found: list[Slot] = []
    day = after.date()
    for _ in range(31):
        if rules.opens_on(day, shop):
            found += [s for s in rules.day_slots(day, service_type, shop, zone(), repo.booked(branch, day),
                                                 shop.bays_of(branch), after) if s.free > 0]
            if len(found) >= count:
                break
        day += timedelta(days=1)
    return found[:count]


def book(access: Access, customer_id: str, new: NewAppointment) -> Appointment:
    """At the customer's branch, for their vehicle; 409 `slot_full` with the next three free starts."""
    shop = workshop()
    start = new.slot_start.astimezone(zone())
    now = utcnow()
    problems = rules.check_start(start, new.service_type, shop, now.astimezone(zone()))
    if problems:
        raise ValidationFailed(problems)
    hours = rules.hours_of(start, new.service_type, shop)
    assert hours is not None
    for _ in range(STALE_READ_ATTEMPTS):
        customer = customers.get(access, customer_id)
        appointment = rules.create(new_id(now), customer.id, customer.branch_id,
                                   NewAppointment(new.vin, start, new.service_type, new.notes),
                                   by=access.principal.sub, now=now)
        try:
            repo.book(appointment, hours, shop.bays_of(customer.branch_id))
        except repo.SlotFull:
            raise Conflict("That slot is full.", reason="slot_full", next_free=[
                s.to_dict() for s in _next_free(customer.branch_id, start, new.service_type,
                                                rules.NEXT_FREE_SHOWN)]) from None
        except repo.NotTheirVehicle:
            raise ValidationFailed([FieldError("vin", "is not a vehicle of this customer")]) from None
        except StaleRead:
            continue
        return appointment
    raise StaleRead("The slot or the customer kept changing; retry.")


def get(access: Access, appointment_id: str) -> Appointment:
    found = repo.get(appointment_id) if is_id(appointment_id) else None
    if found is None:
        raise NotFound("No such record.")
    access.check_branch(found.branch_id)
    return found


def of_customer(access: Access, customer_id: str) -> list[dict[str, object]]:
    customers.get(access, customer_id)
    return [{"id": r.appointment_id, "vin": r.vin, "service_type": r.service_type, "status": r.status,
             "slot_start": datetime.fromisoformat(r.slot_start).astimezone(zone()).isoformat()}
            for r in sorted(repo.of_customer(customer_id), key=lambda r: r.slot_start, reverse=True)]


def update(access: Access, appointment_id: str, if_match: str | None, *, status: str | None, notes: str | None,
           notes_sent: bool) -> Appointment:
    current = get(access, appointment_id)
    require_if_match(if_match, current.version, "appointment")
    updated = rules.change(current, status=status, notes=notes, notes_sent=notes_sent, by=access.principal.sub,
                           now=utcnow())
    if updated is not current:
        repo.update(current, updated, zone())
    return updated
