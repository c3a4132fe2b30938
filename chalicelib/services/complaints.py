"""Complaint use cases: open a case, read, list, move it along its lifecycle."""

from __future__ import annotations

from chalicelib.config import STALE_READ_ATTEMPTS
from chalicelib.domain import complaints as rules
from chalicelib.domain.access import Access
from chalicelib.domain.clock import is_id, iso, new_id, utcnow
from chalicelib.domain.complaints import Complaint, ComplaintChanges, NewComplaint
from chalicelib.domain.customers import Customer
from chalicelib.domain.errors import FieldError, Forbidden, NotFound, StaleRead, ValidationFailed
from chalicelib.domain.versions import require_if_match
from chalicelib.persistence import complaints as repo
from chalicelib.persistence.paging import RawKey
from chalicelib.services import customers


def open_case(access: Access, customer_id: str, new: NewComplaint) -> Complaint:
    """The complaint is stamped with the customer's branch, which its write checks: a customer moved
    meanwhile is read again (and then may be out of the caller's reach: 404), one erased meanwhile is a 404."""
    for _ in range(STALE_READ_ATTEMPTS):
        customer = customers.get(access, customer_id)  # first: another branch's customer is a 404, whatever else
        if new.work_order_id:
            _check_work_order(customer.id, new.work_order_id)
        complaint = build(access, customer, new)
        try:
            repo.create(complaint)
        except StaleRead:
            continue
        return complaint
    raise StaleRead("The customer kept changing; retry.")


def _check_work_order(customer_id: str, work_order_id: str) -> None:
    """A complaint is about a work order of the same customer (400 naming the field otherwise, whoever's it is)."""
    from chalicelib.persistence import work_orders

    found = work_orders.get(work_order_id) if is_id(work_order_id) else None
    if found is None or found.customer_id != customer_id:
        raise ValidationFailed([FieldError("work_order_id", "is not a work order of this customer")])


def build(access: Access, customer: Customer, new: NewComplaint) -> Complaint:
    """A new case of `customer` from validated input, routed and with its SLA deadlines; not stored yet."""
    now = utcnow()
    return rules.new_case(new, case_id=new_id(now), customer_id=customer.id, branch_id=customer.branch_id,
                          by=access.principal.sub, now=now)


def get(access: Access, complaint_id: str) -> Complaint:
    complaint = repo.get(complaint_id) if is_id(complaint_id) else None
    if complaint is None:
        raise NotFound("No such record.")
    access.check_branch(complaint.branch_id)
    return complaint


def open_of_customer(access: Access, customer: Customer) -> list[Complaint]:
    """The complaints of a customer the caller has just read (newest first, without history) that are not resolved
    yet: one Query; another branch's customer is not found."""
    access.check_branch(customer.branch_id)
    return repo.open_of_customer(customer.id)


def update(access: Access, complaint_id: str, if_match: str | None, changes: ComplaintChanges) -> Complaint:
    current = get(access, complaint_id)
    require_if_match(if_match, current.version, "complaint")
    now = utcnow()
    by = access.principal.sub
    updated = current
    if "assignee" in changes.sent:
        updated = rules.set_field(updated, "assignee", changes.assignee, by=by, now=now)
    if "resolution_note" in changes.sent:
        updated = rules.set_field(updated, "resolution_note", changes.resolution_note, by=by, now=now)
    if "factory_defect" in changes.sent:
        updated = rules.mark_factory_defect(updated, changes.factory_defect, by=by, now=now)
    if changes.status is not None and changes.status != updated.status:
        updated = rules.transition(updated, changes.status, by=by, now=now)
    if updated is current:
        return current
    updated.updated_at = iso(now)
    updated.version = current.version + 1
    repo.update(current, updated)
    return updated


def list_page(
    access: Access,
    *,
    branch: str | None,
    department: str | None,
    status: str | None,
    severity: str | None,
    limit: int,
    start_key: RawKey | None,
) -> tuple[list[Complaint], RawKey | None]:
    if access.branch is not None:
        if branch is not None and branch != access.branch:
            raise Forbidden("You may only list complaints of your own branch.")
        branch = access.branch
    return repo.list_page(branch=branch, department=department, status=status, severity=severity,
                          limit=limit, start_key=start_key)
