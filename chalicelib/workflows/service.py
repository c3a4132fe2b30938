"""What the stream consumer does with the workshop's changes (chalicelib/workflows/stream.py routes them here):
the customer hears, exactly once each (the claims' keys), that their appointment is booked, and of their work
order: checked in, an estimate waiting for approval, a delay, ready for pick-up. Each in their language, by their
channel, the STOP list honoured, in waking hours (a message due in the quiet hours waits for them to end); and,
the day before the appointment, a reminder (moved earlier out of the quiet hours), withdrawn if it is cancelled."""

from __future__ import annotations

from contextlib import suppress
from datetime import datetime
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from chalicelib.domain.appointments import Appointment
from chalicelib.domain.customers import Customer
from chalicelib.domain.vehicles import Vehicle
from chalicelib.domain.work_orders import WorkOrder
from chalicelib.observability import logger

if TYPE_CHECKING:
    from chalicelib.persistence.changes import Change


def _zone() -> ZoneInfo:
    from chalicelib.config import settings

    return ZoneInfo(settings().timezone)


def changed(change: Change) -> None:
    old, new = change.old, change.new
    if isinstance(new or old, Vehicle):
        _vehicle_changed(old if isinstance(old, Vehicle) else None, new if isinstance(new, Vehicle) else None)
    elif isinstance(new, Appointment):
        if change.inserted:
            _appointment_booked(new)
        elif isinstance(old, Appointment) and old.status != new.status and new.status in ("cancelled", "no_show"):
            _appointment_ended(new)
    elif isinstance(new, WorkOrder) and (old is None or isinstance(old, WorkOrder)):
        if old is None and not change.inserted:
            return  # an item rewritten whole without its old image: nothing to compare
        if old is not None and new.version != old.version + 1:
            return  # not one change by the API (a bulk rewrite): nobody is told
        _work_order_changed(old, new)


def _tell(customer: Customer, kind: str, key: str, ref_id: str, fields: dict[str, str],
          send_at: datetime | None = None) -> str:
    from chalicelib.domain.consent import Purpose
    from chalicelib.domain.messages import reference, render
    from chalicelib.workflows.messages import notify

    message = render(kind, customer.language, ref=reference(ref_id), **fields)
    return notify(customer, message, key=key, purpose=Purpose.TRANSACTIONAL, kind="service_update", ref=ref_id,
                  waking_hours=True, send_at=send_at)


def _appointment_booked(a: Appointment) -> None:
    """The confirmation now (or when the quiet hours end), and the day-before reminder claimed now and sent then
    by the reminders state machine (none for an appointment booked less than a day ahead: the confirmation is
    its reminder)."""
    from chalicelib.config import settings
    from chalicelib.domain.appointments import HOLDS_PLACES, reminder_at
    from chalicelib.domain.clock import utcnow
    from chalicelib.domain.work_orders import when
    from chalicelib.persistence import appointments, customers

    if a.status != "booked":
        return
    customer = customers.get(a.customer_id)
    if customer is None:  # erased meanwhile: nobody to tell
        return
    lang = customer.language if customer.language in ("id", "en") else "id"
    fields = {"when": when(a.slot_start, lang, _zone()), "branch": a.branch_id.title()}
    outcome = _tell(customer, "appointment_booked", f"appt-booked#{a.id}", a.id, fields)
    logger().info("appointment message", extra={"appointment_id": a.id, "message_kind": "appointment_booked",
                                                "outcome": outcome})
    remind = reminder_at(a.slot_start, _zone(), settings().quiet_hours)
    current = appointments.get(a.id, consistent=True)  # a record redelivered after a cancel reminds nobody
    if remind > utcnow() and current is not None and current.status in HOLDS_PLACES:
        outcome = _tell(customer, "appointment_reminder", f"appt-reminder#{a.id}", a.id, fields, send_at=remind)
        logger().info("appointment message", extra={"appointment_id": a.id,
                                                    "message_kind": "appointment_reminder", "outcome": outcome})


def _appointment_ended(a: Appointment) -> None:
    """A cancelled (or missed) appointment's reminder, still waiting, is not sent."""
    from chalicelib.workflows.messages import withdraw_pending

    if withdraw_pending(a.customer_id, f"appt-reminder#{a.id}", f"appointment {a.status}"):
        logger().info("appointment reminder withdrawn", extra={"appointment_id": a.id})


def _work_order_changed(old: WorkOrder | None, new: WorkOrder) -> None:
    from chalicelib.domain.work_orders import notices
    from chalicelib.persistence import customers

    told = notices(old, new, _zone())
    customer = customers.get(new.customer_id) if told else None
    if customer is None:  # nothing to tell, or nobody (erased, or the work order detached)
        return
    for notice in told:
        outcome = _tell(customer, notice.kind, notice.key, new.id, notice.fields)
        logger().info("work order message", extra={"work_order_id": new.id, "message_kind": notice.kind,
                                                   "outcome": outcome})
    if old is not None and new.status == "completed" and old.status != "completed":
        from chalicelib.workflows import surveys

        asked = surveys.ask(customer, surveys.asked_about("work_order", new))
        logger().info("survey", extra={"work_order_id": new.id, "outcome": asked})


SERVICE_DUE_BY = "system:service"  # who the vehicle's service due item is created by


def _due_on(v: Vehicle | None) -> tuple[str | None, str | None]:
    """(owner, due date) of the vehicle's next service."""
    from chalicelib.config import service_intervals
    from chalicelib.domain.clock import utcnow
    from chalicelib.domain.vehicles import next_service_due

    if v is None or v.owner_id is None:
        return None, None
    default, by_model = service_intervals()
    interval = by_model.get(v.model.lower(), default)
    due = next_service_due(v, interval.months, interval.km, utcnow().astimezone(_zone()).date())
    return v.owner_id, due.isoformat() if due else None


def _vehicle_changed(old: Vehicle | None, new: Vehicle | None) -> None:
    """The vehicle's next service is a due item (kind service) of its owner, so the daily reminders remind them
    at T-7, T-1 and T-0 like any due date: replaced when the last service, the odometer or the owner changes,
    gone from an owner who no longer has the vehicle."""
    from chalicelib.domain.clock import iso, utcnow
    from chalicelib.domain.errors import NotFound, StaleRead
    from chalicelib.domain.reminders import DueItem
    from chalicelib.domain.vehicles import service_due_id
    from chalicelib.persistence import customers
    from chalicelib.persistence import reminders as due_items

    before, after = _due_on(old), _due_on(new)
    if before == after and (old is None or new is None or (old.make, old.model) == (new.make, new.model)):
        return
    vin = (new or old).vin  # type: ignore[union-attr]
    item_id = service_due_id(vin)
    if before[0] is not None and before[0] != after[0]:
        with suppress(NotFound):  # none was made, or the owner was erased with it
            due_items.delete(before[0], item_id)
    owner_id, due_date = after
    if new is None or owner_id is None:
        return
    if due_date is None:
        with suppress(NotFound):
            due_items.delete(owner_id, item_id)
        return
    for _ in range(3):
        customer = customers.get(owner_id)
        if customer is None:
            return  # erased: the vehicle is detached next
        item = DueItem(id=item_id, customer_id=owner_id, kind="service", title=f"Servis berkala {new.make} {new.model}",
                       due_date=due_date, created_at=iso(utcnow()), created_by=SERVICE_DUE_BY)
        try:
            due_items.put(item, customer)
        except StaleRead:
            continue
        logger().info("service due item", extra={"due_date": due_date})
        return
    raise StaleRead("The owner kept changing; the record is retried.")


LATE_MARGIN_HOURS_DEFAULT = 24


def late_work_orders(now: datetime) -> dict[str, int]:
    """Work orders still new, in progress or on hold WORK_ORDER_LATE_MARGIN_HOURS (default 24) after their ETA:
    each opens exactly one complaint (category service, severity high, `ref` the work order), which starts the SLA
    escalation, and is marked with it. Run by the late-deliveries job; a second run opens nothing (the complaint's
    id is made from the work order's). Reads the branches' boards by ETA: only late work orders are read."""
    import os
    from datetime import timedelta

    from chalicelib.config import settings
    from chalicelib.domain.clock import iso
    from chalicelib.domain.errors import PreconditionFailed, StaleRead
    from chalicelib.domain.work_orders import LATE_STATUSES, is_late, late_complaint, mark_late
    from chalicelib.persistence import complaints, customers
    from chalicelib.persistence import work_orders as repo

    margin = timedelta(hours=int(os.environ.get("WORK_ORDER_LATE_MARGIN_HOURS") or LATE_MARGIN_HOURS_DEFAULT))
    before = iso(now - margin)
    found = opened = 0
    for branch in settings().branches:
        for status in LATE_STATUSES:
            for entry in repo.past_eta(branch, status.value, before):
                w = repo.get(entry.id, consistent=True)
                if w is None or not is_late(w, now, margin):
                    continue
                found += 1
                customer = customers.get(w.customer_id)
                if customer is None:
                    continue  # its customer was erased: nobody to follow up with
                case = late_complaint(w, customer.branch_id, now=now)
                try:
                    complaints.create(case)
                    opened += 1
                except StaleRead:
                    if complaints.get(case.id, consistent=True) is None:
                        continue  # not opened (the customer moved or went meanwhile): the next run tries again
                    # else a twin run opened it: mark the work order with it
                try:
                    repo.update(w, mark_late(w, case.id, now=now))
                except (PreconditionFailed, StaleRead):
                    continue  # changed meanwhile: the next run looks again (the complaint is not opened twice)
    return {"late_work_orders_found": found, "work_order_complaints_opened": opened}
