"""Complaint repository: the case item, its history entries, the listing indexes."""

from __future__ import annotations

from typing import Any

from pynamodb.exceptions import TransactWriteError
from pynamodb.transactions import TransactWrite

from chalicelib.domain.complaints import Complaint, HistoryEntry
from chalicelib.domain.errors import NotFound, PreconditionFailed
from chalicelib.persistence.customers import _connection, in_scope
from chalicelib.persistence.errors import translated
from chalicelib.persistence.paging import Page, RawKey, query_page
from chalicelib.persistence.tables import (
    ALL_COMPLAINTS_PK,
    COMPLAINT_SK,
    HISTORY_PREFIX,
    PROFILE_SK,
    ComplaintHistoryItem,
    ComplaintItem,
    CustomerItem,
    Item,
    bind_table,
    complaint_pk,
    customer_pk,
)


def to_item(c: Complaint) -> ComplaintItem:
    order = f"{c.status}#{c.id}"
    return ComplaintItem(
        pk=complaint_pk(c.id),
        sk=COMPLAINT_SK,
        tl_pk=customer_pk(c.customer_id),
        tl_sk=f"{c.created_at}#complaint#{c.id}",
        id=c.id,
        customer_id=c.customer_id,
        branch_id=c.branch_id,
        category=c.category,
        department=c.department,
        severity=c.severity,
        subject=c.subject,
        description=c.description,
        status=c.status,
        created_at=c.created_at,
        updated_at=c.updated_at,
        created_by=c.created_by,
        ack_due_at=c.ack_due_at,
        resolve_due_at=c.resolve_due_at,
        version=c.version,
        ref=c.ref,
        assignee=c.assignee,
        resolution_note=c.resolution_note,
        acknowledged_at=c.acknowledged_at,
        resolved_at=c.resolved_at,
        closed_at=c.closed_at,
        escalation_level=c.escalation_level,
        breached=c.escalated,
        ca_pk=ALL_COMPLAINTS_PK,
        ca_sk=order,
        cb_pk=f"CXB#{c.branch_id}",
        cb_sk=order,
        cd_pk=f"CXD#{c.department}",
        cd_sk=order,
    )


def from_item(item: ComplaintItem, history: list[HistoryEntry] | None = None) -> Complaint:
    return Complaint(
        id=item.id,
        customer_id=item.customer_id,
        branch_id=item.branch_id,
        category=item.category,
        department=item.department,
        severity=item.severity,
        subject=item.subject,
        description=item.description,
        status=item.status,
        created_at=item.created_at,
        updated_at=item.updated_at,
        created_by=item.created_by,
        ack_due_at=item.ack_due_at,
        resolve_due_at=item.resolve_due_at,
        version=int(item.version),
        ref=item.ref,
        assignee=item.assignee,
        resolution_note=item.resolution_note,
        acknowledged_at=item.acknowledged_at,
        resolved_at=item.resolved_at,
        closed_at=item.closed_at,
        escalation_level=int(item.escalation_level),
        escalated=bool(item.breached),
        history=history or [],
    )


def _history_items(c: Complaint, entries: list[HistoryEntry], first_seq: int) -> list[ComplaintHistoryItem]:
    return [
        ComplaintHistoryItem(
            pk=complaint_pk(c.id),
            sk=f"{HISTORY_PREFIX}{e.at}#{first_seq + n:04d}",
            at=e.at,
            by=e.by,
            change=e.change,
            from_value=e.from_value,
            to_value=e.to_value,
        )
        for n, e in enumerate(entries)
    ]


def create(c: Complaint, branch_scope: str | None) -> None:
    """One transaction: the customer still exists (in the caller's branch), the case and its first entry."""
    bind_table()
    must_exist = in_scope(branch_scope)
    try:
        with translated(), TransactWrite(connection=_connection()) as tx:
            tx.condition_check(CustomerItem, customer_pk(c.customer_id), PROFILE_SK, condition=must_exist)
            tx.save(to_item(c), condition=ComplaintItem.pk.does_not_exist())
            for h in _history_items(c, c.history, 0):
                tx.save(h)
    except TransactWriteError as exc:
        raise NotFound("No such record.") from exc


def get(complaint_id: str) -> Complaint | None:
    """The case and its whole history in one Query (history sorts before `COMPLAINT`)."""
    bind_table()
    items: list[Any] = []
    start: RawKey | None = None
    while True:
        page = query_page(complaint_pk(complaint_id), limit=100, start_key=start, newest_first=False)
        items += page.items
        start = page.next_key
        if start is None:
            break
    case = next((i for i in items if isinstance(i, ComplaintItem)), None)
    if case is None:
        return None
    history = [
        HistoryEntry(at=h.at, by=h.by, change=h.change, from_value=h.from_value, to_value=h.to_value)
        for h in items
        if isinstance(h, ComplaintHistoryItem)
    ]
    return from_item(case, history)


def update(old: Complaint, new: Complaint) -> None:
    """Replace the case if its version is unchanged, adding the new history entries."""
    bind_table()
    added = new.history[len(old.history):]
    try:
        with translated(), TransactWrite(connection=_connection()) as tx:
            tx.save(to_item(new), condition=ComplaintItem.version == old.version)
            for h in _history_items(new, added, len(old.history)):
                tx.save(h)
    except TransactWriteError as exc:
        raise PreconditionFailed("The complaint was changed by someone else; fetch it again.") from exc


def list_page(
    *,
    branch: str | None,
    department: str | None,
    status: str | None,
    severity: str | None,
    limit: int,
    start_key: RawKey | None,
) -> Page:
    """Newest first within a status. The most selective key decides the index; the rest filter."""
    bind_table()
    conditions = []
    if branch:
        index, hash_key = "complaints_by_branch", f"CXB#{branch}"
        if department:
            conditions.append(ComplaintItem.department == department)
    elif department:
        index, hash_key = "complaints_by_department", f"CXD#{department}"
    else:
        index, hash_key = "complaints_all", ALL_COMPLAINTS_PK
    if severity:
        conditions.append(ComplaintItem.severity == severity)
    condition: Any = None
    for c in conditions:
        condition = c if condition is None else condition & c
    range_attr = {"complaints_by_branch": ComplaintItem.cb_sk, "complaints_by_department": ComplaintItem.cd_sk,
                  "complaints_all": ComplaintItem.ca_sk}[index]
    return query_page(
        hash_key,
        index_name=index,
        range_key_condition=range_attr.startswith(f"{status}#") if status else None,
        filter_condition=condition,
        limit=limit,
        start_key=start_key,
    )


def erase_for_customer(customer_id: str) -> None:
    """Delete every complaint (and its history) of a customer: part of the right to be forgotten."""
    bind_table()
    start: RawKey | None = None
    case_ids: list[str] = []
    while True:
        page = query_page(customer_pk(customer_id), index_name="timeline", limit=100, start_key=start)
        case_ids += [i.id for i in page.items if isinstance(i, ComplaintItem)]
        start = page.next_key
        if start is None:
            break
    for case_id in case_ids:
        while True:
            page = query_page(complaint_pk(case_id), limit=100, start_key=None, newest_first=False)
            if not page.items:
                break
            with translated(), Item.batch_write() as batch:
                for item in page.items:
                    batch.delete(item)
