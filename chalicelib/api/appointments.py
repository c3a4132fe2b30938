"""Routes of workshop appointments: a branch's free slots, book one for a customer's vehicle, a customer's list,
read, move along (models: chalicelib/api/appointments_models.py)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from chalicelib.api.http import Call, Reply, RouteSpec, View

if TYPE_CHECKING:
    from chalicelib.api.appointments_models import AppointmentCreate, AppointmentPatch, SlotsQuery
    from chalicelib.domain.appointments import Appointment


def _reply(a: Appointment, status: int = 200, **headers: str) -> Reply:
    from chalicelib.services.appointments import zone

    return Reply(a.to_dict(zone()), status, {"ETag": a.etag, **headers})


def appointment_slots(call: Call[None, SlotsQuery], branch: str) -> Reply:
    from chalicelib.services import appointments

    q = call.query
    found = appointments.slots(call.caller, branch, q.date, q.service_type.value)
    return Reply({"items": [s.to_dict() for s in found]})


def book_appointment(call: Call[AppointmentCreate, None], customer_id: str) -> Reply:
    from chalicelib.services import appointments

    a = appointments.book(call.caller, customer_id, call.body.to_domain())
    return _reply(a, 201, Location=f"/appointments/{a.id}")


def customer_appointments(call: Call[None, None], customer_id: str) -> Reply:
    from chalicelib.services import appointments

    return Reply({"items": appointments.of_customer(call.caller, customer_id)})


def get_appointment(call: Call[None, None], appointment_id: str) -> Reply:
    from chalicelib.services import appointments

    return _reply(appointments.get(call.caller, appointment_id))


def patch_appointment(call: Call[AppointmentPatch, None], appointment_id: str) -> Reply:
    from chalicelib.services import appointments

    body = call.body
    return _reply(appointments.update(call.caller, appointment_id, call.header("If-Match"),
                                      status=body.status.value if body.status else None, notes=body.notes or None,
                                      notes_sent="notes" in body.model_fields_set))


ONE = "/appointments/{appointment_id}"
ROUTES: list[tuple[RouteSpec, View]] = [
    (RouteSpec("GET", "/branches/{branch}/appointment-slots", "appointments.slots",
               "A branch workshop's slots on a day for a service type, with their free places",
               response="SlotList", errors=(400, 401, 403, 404)), appointment_slots),
    (RouteSpec("POST", "/customers/{customer_id}/appointments", "appointments.create",
               "Book a workshop slot for a customer's vehicle (409 slot_full with the next free slots)", 201,
               response="AppointmentOut", errors=(400, 401, 403, 404, 409, 413, 415),
               headers=("ETag", "Location")), book_appointment),
    (RouteSpec("GET", "/customers/{customer_id}/appointments", "appointments.list", "A customer's appointments",
               response="AppointmentList", errors=(401, 403, 404)), customer_appointments),
    (RouteSpec("GET", ONE, "appointments.get", "Read an appointment with its history", response="AppointmentOut",
               errors=(401, 403, 404), headers=("ETag",)), get_appointment),
    (RouteSpec("PATCH", ONE, "appointments.update",
               "Move an appointment along its lifecycle or change its notes (If-Match required)",
               response="AppointmentOut", errors=(400, 401, 403, 404, 409, 412, 413, 415, 428), headers=("ETag",)),
     patch_appointment),
]
