"""Complaint repository: the case item, its history entries, the listing indexes."""

from __future__ import annotations

from typing import Any

from pynamodb.exceptions import TransactWriteError, UpdateError
from pynamodb.transactions import TransactWrite

from chalicelib.domain.complaints import Complaint, HistoryEntry
from chalicelib.domain.errors import NotFound, PreconditionFailed, StaleRead
from chalicelib.persistence.errors import translated
from chalicelib.persistence.paging import RawKey, query_all, query_page
from chalicelib.persistence.tables import (
    ALL_COMPLAINTS_PK,
    COMPLAINT_LINK_PREFIX,
    COMPLAINT_SK,
    HISTORY_PREFIX,
    PROFILE_SK,
    ComplaintHistoryItem,
    ComplaintItem,
    ComplaintLinkItem,
    CustomerItem,
    Item,
    complaint_link_sk,
    complaint_pk,
    customer_pk,
)
from chalicelib.persistence.tx import connection, failed_codes, live_customer
from chalicelib.persistence.work_orders import work_order_pk

# A customer's move to another branch takes this many of their complaints along in its own
# transaction (DynamoDB allows 100 items: the profile, up to 4 guard changes, these).
MOVED_WITH_PROFILE_MAX = 90


def branch_index_pk(branch_id: str) -> str:
    return f"CXB#{branch_id}"


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
        resolved_by=c.resolved_by,
        resolved_branch=c.resolved_branch,
        closed_at=c.closed_at,
        reopened_at=c.reopened_at,
        reopens=c.reopens,
        escalation_level=c.escalation_level,
        breached=c.escalated,
        escalated_at=c.escalated_at,
        vin=c.vin,
        part_no=c.part_no,
        batch_no=c.batch_no,
        defect_code=c.defect_code,
        factory_defect=c.factory_defect,
        work_order_id=c.work_order_id,
        ca_pk=ALL_COMPLAINTS_PK,
        ca_sk=order,
        cb_pk=branch_index_pk(c.branch_id),
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
        resolved_by=item.resolved_by,
        resolved_branch=item.resolved_branch,
        closed_at=item.closed_at,
        reopened_at=item.reopened_at,
        reopens=int(item.reopens or 0),
        escalation_level=int(item.escalation_level),
        escalated=bool(item.breached),
        escalated_at=item.escalated_at,
        vin=item.vin,
        part_no=item.part_no,
        batch_no=item.batch_no,
        defect_code=item.defect_code,
        factory_defect=item.factory_defect,
        work_order_id=item.work_order_id,
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


def create(c: Complaint) -> None:
    """One transaction: the customer is still a live customer of the complaint's branch, the case,
    its first history entry and its link in the customer's partition.

    Raises StaleRead when the customer is not (erased, or moved meanwhile): the use case reads again.
    """
    try:
        with translated(), TransactWrite(connection=connection()) as tx:
            tx.condition_check(CustomerItem, customer_pk(c.customer_id), PROFILE_SK,
                               condition=live_customer(c.branch_id))
            tx.save(to_item(c), condition=ComplaintItem.pk.does_not_exist())
            tx.save(ComplaintLinkItem(pk=customer_pk(c.customer_id), sk=complaint_link_sk(c.id), complaint_id=c.id))
            if c.work_order_id:  # the work order's read lists the complaints about it
                tx.save(ComplaintLinkItem(pk=work_order_pk(c.work_order_id), sk=complaint_link_sk(c.id),
                                          complaint_id=c.id))
            for h in _history_items(c, c.history, 0):
                tx.save(h)
    except TransactWriteError as exc:
        raise StaleRead("The customer changed meanwhile; retry.") from exc


def load(cases: list[Complaint]) -> None:
    """Bulk load of history (demo data, an import): batch writes, no conditions. The caller guarantees that
    each customer exists in the case's branch and that the ids are new."""
    with translated(), Item.batch_write() as batch:
        for c in cases:
            batch.save(to_item(c))
            batch.save(ComplaintLinkItem(pk=customer_pk(c.customer_id), sk=complaint_link_sk(c.id), complaint_id=c.id))
            for h in _history_items(c, c.history, 0):
                batch.save(h)


def open_of_customer(customer_id: str) -> list[Complaint]:
    """The customer's complaints not resolved yet (without history), newest first: one Query of their timeline
    (complaints are on it), the rest filtered out by DynamoDB."""
    from chalicelib.domain.complaints import UNRESOLVED

    with translated():
        items = Item.timeline.query(customer_pk(customer_id), scan_index_forward=False,
                                    filter_condition=ComplaintItem.status.is_in(*UNRESOLVED))
        return [from_item(i) for i in items if isinstance(i, ComplaintItem)]


def ids_of_customer(customer_id: str) -> list[str]:
    """The ids of a customer's complaints, from their links (consistent Query pages of the customer's partition)."""
    ids: list[str] = []
    with translated():
        for link in ComplaintLinkItem.query(customer_pk(customer_id),
                                            ComplaintLinkItem.sk.startswith(COMPLAINT_LINK_PREFIX),
                                            consistent_read=True):
            if isinstance(link, ComplaintLinkItem):
                ids.append(link.complaint_id)
    return ids


def _move_actions(branch_id: str, now: str) -> list[Any]:
    return [ComplaintItem.branch_id.set(branch_id), ComplaintItem.cb_pk.set(branch_index_pk(branch_id)),
            ComplaintItem.updated_at.set(now), ComplaintItem.version.add(1)]


def move_in(tx: TransactWrite, complaint_ids: list[str], branch_id: str, now: str) -> None:
    """Add to `tx` the move of these complaints to `branch_id` (a new version each: a PATCH read before loses)."""
    for complaint_id in complaint_ids:
        tx.update(ComplaintItem(pk=complaint_pk(complaint_id), sk=COMPLAINT_SK), actions=_move_actions(branch_id, now),
                  condition=ComplaintItem.pk.exists())


def move(complaint_ids: list[str], branch_id: str, now: str) -> int:
    """Move each complaint not in `branch_id` yet to it (one conditional update each); returns how many moved."""
    moved = 0
    for complaint_id in complaint_ids:
        try:
            with translated():
                ComplaintItem(pk=complaint_pk(complaint_id), sk=COMPLAINT_SK).update(
                    actions=_move_actions(branch_id, now),
                    condition=ComplaintItem.pk.exists() & (ComplaintItem.branch_id != branch_id))
        except UpdateError as exc:
            if exc.cause_response_code == "ConditionalCheckFailedException":
                continue  # there already, or erased meanwhile
            raise
        moved += 1
    return moved


def get(complaint_id: str, *, consistent: bool = False) -> Complaint | None:
    """The case and its whole history in one Query (history sorts before `COMPLAINT`)."""
    items = query_all(complaint_pk(complaint_id), consistent=consistent)
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
    added = new.history[len(old.history):]
    try:
        with translated(), TransactWrite(connection=connection()) as tx:
            tx.save(to_item(new), condition=ComplaintItem.version == old.version, return_values="ALL_OLD")
            for h in _history_items(new, added, len(old.history)):
                tx.save(h)
    except TransactWriteError as exc:
        reasons = [r for r in exc.cancellation_reasons if r is not None and r.code == "ConditionalCheckFailed"]
        if reasons and not reasons[0].raw_item:
            raise NotFound("No such record.") from exc  # erased with its customer meanwhile
        raise PreconditionFailed("The complaint was changed by someone else; fetch it again.") from exc


ESCALATION_BY = "escalation"  # the history's `by` of what the escalation workflow did


def record_escalation(from_level: int, c: Complaint) -> bool:
    """The escalation workflow raised `c`'s level (from `from_level`): its entry in the complaint's history, once.

    Keyed by the escalation's time and level, so a redelivered stream record writes nothing more; and only
    while the complaint exists (erased meanwhile: nothing). False when nothing was written.
    """
    at = c.escalated_at or c.updated_at
    entry = HistoryEntry(at=at, by=ESCALATION_BY, change="escalation", from_value=f"L{from_level}",
                         to_value=f"L{c.escalation_level}")
    item = _history_items(c, [entry], 0)[0]
    item.sk = f"{HISTORY_PREFIX}{at}#e{c.escalation_level}"
    try:
        with translated(), TransactWrite(connection=connection()) as tx:
            tx.condition_check(ComplaintItem, complaint_pk(c.id), COMPLAINT_SK,
                               condition=ComplaintItem.escalation_level >= c.escalation_level)
            tx.save(item, condition=ComplaintHistoryItem.pk.does_not_exist())
    except TransactWriteError as exc:
        if "ConditionalCheckFailed" in failed_codes(exc):
            return False  # recorded before, or the complaint is gone
        raise
    return True


def list_page(
    *,
    branch: str | None,
    department: str | None,
    status: str | None,
    severity: str | None,
    limit: int,
    start_key: RawKey | None,
) -> tuple[list[Complaint], RawKey | None]:
    """Newest first within a status. The most selective key decides the index; the rest filter."""
    conditions = []
    if branch:
        index, hash_key = "complaints_by_branch", branch_index_pk(branch)
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
    page = query_page(
        hash_key,
        index_name=index,
        range_key_condition=range_attr.startswith(f"{status}#") if status else None,
        filter_condition=condition,
        limit=limit,
        start_key=start_key,
    )
    return [from_item(i) for i in page.items if isinstance(i, ComplaintItem)], page.next_key


def item_key(complaint_id: str) -> dict[str, str]:
    """The complaint's key, for a workflow that reads and updates the item itself (escalation.asl.json)."""
    return {"pk": complaint_pk(complaint_id), "sk": COMPLAINT_SK}
