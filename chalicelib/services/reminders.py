"""Reminders' use cases: a customer's due items (record one, list them, delete one)."""

from __future__ import annotations

from chalicelib.config import DUE_ITEMS_MAX_PER_CUSTOMER, STALE_READ_ATTEMPTS
from chalicelib.domain.access import Access
from chalicelib.domain.clock import is_id, iso, new_id, utcnow
from chalicelib.domain.customers import Customer
from chalicelib.domain.errors import Conflict, NotFound, StaleRead
from chalicelib.domain.reminders import DueItem, NewDueItem
from chalicelib.persistence import reminders as repo
from chalicelib.services import customers


def add(access: Access, customer_id: str, new: NewDueItem) -> DueItem:
    """GetItem (the profile: access, branch, contact data) + Query (count) + TransactWriteItems.

    The item keeps a copy of the profile's contact data, written only if the profile is still that
    version: a customer changed meanwhile is read again, one erased meanwhile answers 404.
    """
    for _ in range(STALE_READ_ATTEMPTS):
        customer = customers.get(access, customer_id)
        if repo.count_for(customer.id) >= DUE_ITEMS_MAX_PER_CUSTOMER:
            raise Conflict(f"A customer can have at most {DUE_ITEMS_MAX_PER_CUSTOMER} due items; "
                           "delete old ones first.")
        item = _new_item(access, customer.id, new)
        try:
            repo.create(item, customer)
        except StaleRead:
            continue
        return item
    raise StaleRead("The customer kept changing; retry.")


def _new_item(access: Access, customer_id: str, new: NewDueItem) -> DueItem:
    now = utcnow()
    return DueItem(
        id=new_id(now),
        customer_id=customer_id,
        kind=new.kind,
        title=new.title,
        due_date=new.due_date,
        created_at=iso(now),
        created_by=access.principal.sub,  # from the token, never from the body
        amount=float(new.amount) if new.amount is not None else None,
        ref=new.ref,
    )


def due_of(access: Access, customer: Customer) -> list[DueItem]:
    """The due items of a customer the caller has just read: one Query; another branch's customer is not found."""
    access.check_branch(customer.branch_id)
    return repo.list_for(customer.id)


def list_for(access: Access, customer_id: str) -> list[DueItem]:
    customers.get(access, customer_id)
    return repo.list_for(customer_id)


def get(access: Access, customer_id: str, item_id: str) -> DueItem:
    customers.get(access, customer_id)  # the customer's branch decides (404 outside it, as for a missing one)
    item = repo.get(customer_id, item_id) if is_id(item_id) else None
    if item is None:
        raise NotFound("No such record.")
    return item


def delete(access: Access, customer_id: str, item_id: str) -> None:
    customers.get(access, customer_id)
    if not is_id(item_id):
        raise NotFound("No such record.")
    repo.delete(customer_id, item_id)
