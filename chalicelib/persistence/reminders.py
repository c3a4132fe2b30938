"""Reminders' storage: due items (pk C#<customer_id>, sk D#<item_id>) and the daily job's reads of the reminder indexes.

A due item keeps a copy of its customer's contact data (`contact_*`, with the
profile `version` it was copied from), so a due-date reminder is decided from
the `due_by_date` index item alone: the daily job reads one item per
reminder. The copy is written with the item (in a transaction that checks the
profile still has that version) and refreshed from the table's stream when
the profile's contact data changes (`refresh_contact`, conditional on an
older version, so a late or redelivered record never rolls it back).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from pynamodb.exceptions import DeleteError, TransactWriteError, UpdateError
from pynamodb.transactions import TransactWrite

from chalicelib.config import DUE_ITEMS_MAX_PER_CUSTOMER
from chalicelib.domain.customers import Customer
from chalicelib.domain.errors import NotFound, StaleRead
from chalicelib.domain.reminders import Contact, DueItem
from chalicelib.domain.reminders import contact_of as customer_contact
from chalicelib.persistence.customers import from_item as customer_of
from chalicelib.persistence.errors import translated
from chalicelib.persistence.tables import (
    DUE_ITEM_PREFIX,
    PROFILE_SK,
    CustomerItem,
    DueItemItem,
    Item,
    birthday_pk,
    customer_pk,
    due_date_pk,
    due_item_sk,
)
from chalicelib.persistence.tx import connection, live_customer

T = TypeVar("T")

# Items per Query page of the daily job (profiles are ~1-2 KB: well under the 1 MB page limit).
INDEX_PAGE_ITEMS = 500


def to_item(d: DueItem, contact: Contact) -> DueItemItem:
    return DueItemItem(
        pk=customer_pk(d.customer_id),
        sk=due_item_sk(d.id),
        id=d.id,
        customer_id=d.customer_id,
        kind=d.kind,
        title=d.title,
        due_date=d.due_date,
        amount=d.amount,
        ref=d.ref,
        created_at=d.created_at,
        created_by=d.created_by,
        due_pk=due_date_pk(d.due_date),
        due_sk=f"{d.customer_id}#{d.id}",
        contact_phone=contact.phone,
        contact_email=contact.email,
        contact_channel=contact.preferred_channel,
        contact_language=contact.language,
        contact_version=contact.version,
        contact_branch=contact.branch_id,
    )


def from_item(x: DueItemItem) -> DueItem:
    return DueItem(
        id=x.id,
        customer_id=x.customer_id,
        kind=x.kind,
        title=x.title,
        due_date=x.due_date,
        created_at=x.created_at,
        created_by=x.created_by,
        amount=float(x.amount) if x.amount is not None else None,
        ref=x.ref,
    )


def contact_of(x: DueItemItem) -> Contact:
    return Contact(customer_id=x.customer_id, phone=x.contact_phone, email=x.contact_email,
                   preferred_channel=x.contact_channel, language=x.contact_language, version=int(x.contact_version),
                   branch_id=x.contact_branch)


def create(d: DueItem, customer: Customer) -> None:
    """The item with a copy of the profile's contact data, if the profile is still the live customer
    at the version read; raises StaleRead if it is not (changed, or erased, meanwhile)."""
    try:
        with translated(), TransactWrite(connection=connection()) as tx:
            tx.condition_check(CustomerItem, customer_pk(customer.id), PROFILE_SK,
                               condition=live_customer() & (CustomerItem.version == customer.version))
            tx.save(to_item(d, customer_contact(customer)), condition=DueItemItem.pk.does_not_exist())
    except TransactWriteError as exc:
        raise StaleRead("The customer was changed meanwhile; retry.") from exc


def put(d: DueItem, customer: Customer) -> None:
    """Create or replace the item (its id chosen by the caller: a vehicle's service), with a copy of the
    profile's contact data, if the profile is still the live customer at the version read; StaleRead if not."""
    try:
        with translated(), TransactWrite(connection=connection()) as tx:
            tx.condition_check(CustomerItem, customer_pk(customer.id), PROFILE_SK,
                               condition=live_customer() & (CustomerItem.version == customer.version))
            tx.save(to_item(d, customer_contact(customer)))
    except TransactWriteError as exc:
        raise StaleRead("The customer was changed meanwhile; retry.") from exc


def _owned(customer_id: str, *, limit: int) -> list[DueItemItem]:
    with translated():
        return [
            x for x in DueItemItem.query(customer_pk(customer_id), DueItemItem.sk.startswith(DUE_ITEM_PREFIX),
                                         limit=limit)
            if isinstance(x, DueItemItem)
        ]


def list_for(customer_id: str) -> list[DueItem]:
    """The customer's due items, soonest first (at most DUE_ITEMS_MAX_PER_CUSTOMER: one Query)."""
    items = [from_item(x) for x in _owned(customer_id, limit=DUE_ITEMS_MAX_PER_CUSTOMER)]
    return sorted(items, key=lambda d: (d.due_date, d.id))


def get(customer_id: str, item_id: str) -> DueItem | None:
    with translated():
        try:
            found = DueItemItem.get(customer_pk(customer_id), due_item_sk(item_id), consistent_read=True)
        except DueItemItem.DoesNotExist:
            return None
    return from_item(found) if isinstance(found, DueItemItem) else None


def count_for(customer_id: str) -> int:
    with translated():
        return int(DueItemItem.count(customer_pk(customer_id), DueItemItem.sk.startswith(DUE_ITEM_PREFIX)))


def delete(customer_id: str, item_id: str) -> None:
    try:
        with translated():
            DueItemItem(pk=customer_pk(customer_id), sk=due_item_sk(item_id)).delete(
                condition=DueItemItem.pk.exists()
            )
    except DeleteError as exc:
        if exc.cause_response_code == "ConditionalCheckFailedException":
            raise NotFound("No such record.") from exc
        raise


def refresh_contact(contact: Contact) -> int:
    """Copy the profile's contact data onto the customer's due items; returns how many were updated."""
    updated = 0
    for x in _owned(contact.customer_id, limit=DUE_ITEMS_MAX_PER_CUSTOMER * 10):
        actions: list[Any] = [
            DueItemItem.contact_phone.set(contact.phone),
            DueItemItem.contact_channel.set(contact.preferred_channel),
            DueItemItem.contact_language.set(contact.language),
            DueItemItem.contact_version.set(contact.version),
            DueItemItem.contact_email.set(contact.email) if contact.email else DueItemItem.contact_email.remove(),
            DueItemItem.contact_branch.set(contact.branch_id) if contact.branch_id else DueItemItem.contact_branch.remove(),
        ]
        try:
            with translated():
                x.update(actions=actions,
                         condition=DueItemItem.pk.exists() & (DueItemItem.contact_version < contact.version))
        except UpdateError as exc:
            if exc.cause_response_code == "ConditionalCheckFailedException":
                continue  # deleted meanwhile, or a newer copy is there already
            raise
        updated += 1
    return updated


# --------------------------------------------------------------------------
# The daily job's reads: one Query page at a time, counted
# --------------------------------------------------------------------------


@dataclass
class IndexPage(Generic[T]):
    found: list[T]
    read: int  # items DynamoDB returned (what the page cost in items read)


def _pages(index_name: str, hash_key: str) -> Iterator[tuple[list[Item], int]]:
    conn = Item._get_connection()
    start: dict[str, Any] | None = None
    while True:
        with translated():
            resp = conn.query(hash_key, index_name=index_name, exclusive_start_key=start, limit=INDEX_PAGE_ITEMS)
        raw = resp.get("Items", [])
        yield [Item.from_raw_data(r) for r in raw], len(raw)
        start = resp.get("LastEvaluatedKey")
        if not start:
            return


def birthday_pages(month_day: str) -> Iterator[IndexPage[Customer]]:
    """Customers born on `month_day` (MM-DD), from the sparse `birthdays` index, a Query page at a time."""
    for items, read in _pages("birthdays", birthday_pk(month_day)):
        yield IndexPage([customer_of(x) for x in items if isinstance(x, CustomerItem)], read)


def due_pages(due_date: str) -> Iterator[IndexPage[tuple[DueItem, Contact]]]:
    """Due items falling due on `due_date` (YYYY-MM-DD) with their copy of the contact data, from the
    sparse `due_by_date` index, a Query page at a time."""
    for items, read in _pages("due_by_date", due_date_pk(due_date)):
        yield IndexPage([(from_item(x), contact_of(x)) for x in items if isinstance(x, DueItemItem)], read)
