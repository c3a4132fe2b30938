"""Work order use cases: open one for a vehicle (at check-in, optionally from its appointment), read it as the call
centre does, move it along (If-Match), the branch's board."""

from __future__ import annotations

from chalicelib.config import STALE_READ_ATTEMPTS
from chalicelib.domain import appointments as appointment_rules
from chalicelib.domain import work_orders as rules
from chalicelib.domain.access import Access
from chalicelib.domain.appointments import NEXT as APPOINTMENT_NEXT
from chalicelib.domain.clock import is_id, new_id, utcnow
from chalicelib.domain.errors import FieldError, NotFound, PreconditionFailed, StaleRead, ValidationFailed
from chalicelib.domain.orders import Order
from chalicelib.domain.versions import require_if_match
from chalicelib.domain.work_orders import BoardEntry, NewWorkOrder, WorkOrder, WorkOrderChanges
from chalicelib.persistence import work_orders as repo
from chalicelib.services import appointments, vehicles


def _check(jobs_problems: list[FieldError], eta_ok: bool) -> None:
    problems = list(jobs_problems) + ([] if eta_ok else [FieldError("eta", "is in the past")])
    if problems:
        raise ValidationFailed(problems)


def open_for(access: Access, vin: str, new: NewWorkOrder) -> WorkOrder:
    """For the vehicle's owner, in the vehicle's branch; an appointment named is checked in with it."""
    now = utcnow()
    _check(rules.check_jobs(new.jobs), new.eta > now)
    for _ in range(STALE_READ_ATTEMPTS):
        vehicle = vehicles.get(access, vin)
        if vehicle.owner_id is None or vehicle.owner is None:
            raise ValidationFailed([FieldError("vin", "has no owner: give the vehicle to its customer first")])
        booking = None
        if new.appointment_id:
            try:
                booking = appointments.get(access, new.appointment_id)
            except NotFound:
                booking = None
            if booking is None or booking.vin != vehicle.vin:
                raise ValidationFailed([FieldError("appointment_id", "is not an appointment of this vehicle")])
        wo = rules.create(new_id(now), vin=vehicle.vin, customer_id=vehicle.owner_id, branch_id=vehicle.branch_id,
                          language=vehicle.owner.language, new=new, by=access.principal.sub, now=now)
        check_in = None
        if booking is not None and "checked_in" in APPOINTMENT_NEXT[booking.status]:
            check_in = (booking, appointment_rules.change(booking, status="checked_in", notes=None, notes_sent=False,
                                                          by=access.principal.sub, now=now))
        try:
            repo.create(wo, check_in)  # the appointment is checked in in the same transaction
        except (repo.NotTheirVehicle, StaleRead):
            continue  # the vehicle changed hands or branch, or the appointment moved, meanwhile: read them again
        return wo
    raise StaleRead("The vehicle kept changing; retry.")


def get(access: Access, work_order_id: str) -> WorkOrder:
    found = repo.get(work_order_id) if is_id(work_order_id) else None
    if found is None:
        raise NotFound("No such record.")
    access.check_branch(found.branch_id)
    return found


def update(access: Access, work_order_id: str, if_match: str | None, changes: WorkOrderChanges) -> WorkOrder:
    for _ in range(STALE_READ_ATTEMPTS):
        current = get(access, work_order_id)
        require_if_match(if_match, current.version, "work order")
        if changes.jobs is not None:
            _check(rules.check_jobs(changes.jobs), True)
        updated = rules.change(current, changes, by=access.principal.sub, now=utcnow())
        if updated is current:
            return current
        try:
            repo.update(current, updated)
        except StaleRead:
            continue
        return updated
    raise StaleRead("The work order's customer kept changing; retry.")


def board(access: Access, branch: str, status: str | None) -> list[BoardEntry]:
    access.check_target_branch(branch)
    return repo.board(branch, status)


INVOICE_SKU_DEFAULT = "SVC-WORKSHOP"


def invoice(access: Access, work_order_id: str) -> tuple[WorkOrder, Order, bool]:
    """A completed (or closed) work order becomes an order for its customer, one line per job at its estimate (the
    catalog's WORK_ORDER_INVOICE_SKU, default SVC-WORKSHOP), confirmed, so service revenue counts. Invoicing again
    finds the same order (its number is made from the work order's id). Returns the work order, the order and
    whether the order is new."""
    import os
    from decimal import Decimal

    from chalicelib.domain.access import authorize
    from chalicelib.domain.errors import Conflict
    from chalicelib.domain.orders import NewLine, NewOrder, OrderChanges
    from chalicelib.services import orders

    w = get(access, work_order_id)
    rules.check_invoiceable(w)
    if detached(w.customer_id):
        raise Conflict("The work order's customer was erased: there is nobody to invoice.", allowed=[])
    sku = os.environ.get("WORK_ORDER_INVOICE_SKU") or INVOICE_SKU_DEFAULT
    new = NewOrder(channel="showroom", order_no=rules.invoice_number(w), notify_customer=False, ref=w.id,
                   lines=tuple(NewLine(sku=sku, qty=Decimal(1), unit_price=j.estimate_amount) for j in w.jobs))
    created = True
    try:
        order = orders.place(authorize(access.principal, "orders.create"), w.customer_id, new)
    except Conflict as exc:
        existing = exc.extra.get("existing_order_id")
        if not existing:
            raise
        order, created = orders.get(authorize(access.principal, "orders.get"), str(existing)), False
        if order.ref != w.id or order.customer_id != w.customer_id:  # never someone else's order
            raise Conflict("An order of another record has this work order's invoice number.",
                           existing_order_id=order.id) from None
    if order.status == "draft":
        order = orders.update(authorize(access.principal, "orders.update"), order.id, order.etag,
                              OrderChanges(sent=frozenset({"status"}), status="confirmed"))
    for _ in range(STALE_READ_ATTEMPTS):  # a twin invoice (or any change) meanwhile: mark what is there now
        marked = rules.mark_invoiced(w, order.id, by=access.principal.sub, now=utcnow())
        if marked is w:
            return w, order, created
        try:
            repo.update(w, marked)
        except (PreconditionFailed, StaleRead):
            w = get(access, work_order_id)
            continue
        return marked, order, created
    raise StaleRead("The work order kept changing; retry.")


def detached(customer_id: str) -> bool:
    """The work order's customer was erased (it is kept as the vehicle's history)."""
    return repo.detached(customer_id)
