"""Work orders in DynamoDB (docs/data-model.md):

- `WO#<id>` / `WORKORDER` the work order, `H#<at>#<n>` its history (one Query: the call centre's one read);
- refs written in the same transactions: `VEH#<vin>` / `W#<id>` (the plate lookup's open work orders),
  `C#<customer>` / `WO#<id>` (an erasure finds it there) and, while it is open, `WOB#<branch>` /
  `<status>#<eta>#<id>` (the branch's board by status, soonest ETA first).

A work order is the vehicle's service history: erasing its customer keeps it, detached (the customer id becomes
the same one-way hash orders use), like the vehicle.
"""

from __future__ import annotations

import json
from dataclasses import replace
from decimal import Decimal
from zoneinfo import ZoneInfo

from pynamodb.exceptions import TransactWriteError
from pynamodb.transactions import TransactWrite

from chalicelib.config import settings
from chalicelib.domain.appointments import Appointment
from chalicelib.domain.errors import NotFound, PreconditionFailed, StaleRead
from chalicelib.domain.history import HistoryEntry
from chalicelib.domain.work_orders import OPEN, BoardEntry, Job, WorkOrder
from chalicelib.persistence.errors import translated
from chalicelib.persistence.paging import history_items, record_with_history
from chalicelib.persistence.tables import (
    PROFILE_SK,
    ComplaintLinkItem,
    CustomerItem,
    VehicleItem,
    WorkOrderHistoryItem,
    WorkOrderItem,
    WorkOrderRefItem,
    customer_pk,
)
from chalicelib.persistence.tx import conflicted, connection, failed_codes, live_customer
from chalicelib.persistence.vehicles import VEHICLE_SK, vehicle_pk

WORK_ORDER_SK = "WORKORDER"
CUSTOMER_REF_PREFIX = "WO#"
VEHICLE_REF_PREFIX = "W#"
ATTEMPTS = 5


class NotTheirVehicle(Exception):
    """The vehicle has another owner now (or none)."""


def work_order_pk(work_order_id: str) -> str:
    return f"WO#{work_order_id}"


def board_pk(branch_id: str) -> str:
    return f"WOB#{branch_id}"


def _board_sk(w: WorkOrder) -> str:
    return f"{w.status}#{w.eta}#{w.id}"


def detached(customer_id: str) -> bool:
    from chalicelib.persistence.orders import DETACHED_PREFIX

    return customer_id.startswith(DETACHED_PREFIX)


def to_item(w: WorkOrder) -> WorkOrderItem:
    return WorkOrderItem(
        pk=work_order_pk(w.id), sk=WORK_ORDER_SK, id=w.id, vin=w.vin, customer_id=w.customer_id,
        branch_id=w.branch_id, jobs=json.dumps([j.to_dict() for j in w.jobs], separators=(",", ":")), eta=w.eta,
        status=w.status, stage=w.stage, language=w.language, appointment_id=w.appointment_id,
        approved_at=w.approved_at, approved_by=w.approved_by, late_complaint_id=w.late_complaint_id,
        invoice_order_id=w.invoice_order_id, eta_told=w.eta_told,
        created_at=w.created_at, updated_at=w.updated_at,
        created_by=w.created_by, version=w.version)


def from_item(item: WorkOrderItem, history: list[HistoryEntry] | None = None) -> WorkOrder:
    jobs = [Job(j["description"], Decimal(j["estimate_amount"])) for j in json.loads(item.jobs)]
    return WorkOrder(id=item.id, vin=item.vin, customer_id=item.customer_id, branch_id=item.branch_id, jobs=jobs,
                     eta=item.eta, status=item.status, created_at=item.created_at, updated_at=item.updated_at,
                     created_by=item.created_by, language=item.language, stage=item.stage,
                     appointment_id=item.appointment_id, approved_at=item.approved_at, approved_by=item.approved_by,
                     late_complaint_id=item.late_complaint_id, invoice_order_id=item.invoice_order_id,
                     eta_told=item.eta_told,
                     version=int(item.version), history=history or [])


def _ref(w: WorkOrder, pk: str, sk: str) -> WorkOrderRefItem:
    return WorkOrderRefItem(pk=pk, sk=sk, work_order_id=w.id, vin=w.vin, branch_id=w.branch_id, status=w.status,
                            stage=w.stage, eta=w.eta)


def _vehicle_ref(w: WorkOrder) -> WorkOrderRefItem:
    return _ref(w, vehicle_pk(w.vin), f"{VEHICLE_REF_PREFIX}{w.id}")


def _customer_ref(w: WorkOrder) -> WorkOrderRefItem:
    return _ref(w, customer_pk(w.customer_id), f"{CUSTOMER_REF_PREFIX}{w.id}")


def _board_ref(w: WorkOrder) -> WorkOrderRefItem:
    return _ref(w, board_pk(w.branch_id), _board_sk(w))


def _history(w: WorkOrder, entries: list[HistoryEntry], first_seq: int) -> list[WorkOrderHistoryItem]:
    return history_items(WorkOrderHistoryItem, work_order_pk(w.id), entries, first_seq)


def create(w: WorkOrder, check_in: tuple[Appointment, Appointment] | None = None) -> None:
    """One transaction: the customer is live, the vehicle is still theirs and in the branch, the work order, its
    first history entry and its refs, and (`check_in`: the appointment as read and checked in) its appointment's
    check-in. NotTheirVehicle, or StaleRead when the customer or the appointment changed meanwhile."""
    from chalicelib.persistence import appointments

    try:
        with translated(), TransactWrite(connection=connection()) as tx:
            if check_in is not None:
                appointments.add_update(tx, *check_in, ZoneInfo(settings().timezone))
            tx.condition_check(CustomerItem, customer_pk(w.customer_id), PROFILE_SK, condition=live_customer())
            tx.condition_check(VehicleItem, vehicle_pk(w.vin), VEHICLE_SK,
                               condition=(VehicleItem.owner_id == w.customer_id)
                               & (VehicleItem.branch_id == w.branch_id))
            tx.save(to_item(w), condition=WorkOrderItem.pk.does_not_exist())
            for item in (_vehicle_ref(w), _customer_ref(w), _board_ref(w), *_history(w, w.history, 0)):
                tx.save(item)
    except TransactWriteError as exc:
        codes = failed_codes(exc)
        if codes[1:2] == ["ConditionalCheckFailed"]:
            raise NotTheirVehicle() from exc
        raise StaleRead("The customer, the vehicle or the appointment changed meanwhile; retry.") from exc


def get(work_order_id: str, *, consistent: bool = False) -> WorkOrder | None:
    """The work order with its history and the complaints about it: one Query of its partition."""
    found, history, items = record_with_history(work_order_pk(work_order_id), WorkOrderItem, WorkOrderHistoryItem,
                                                consistent=consistent)
    if found is None:
        return None
    w = from_item(found, history)
    w.complaint_ids = [str(i.complaint_id) for i in items if isinstance(i, ComplaintLinkItem)]
    return w


def update(old: WorkOrder, new: WorkOrder) -> None:
    """The work order if its version is unchanged, with its history and refs (the board's moves with its status
    and ETA, and goes once it is closed or cancelled)."""
    added = new.history[len(old.history):]
    try:
        with translated(), TransactWrite(connection=connection()) as tx:
            tx.save(to_item(new), condition=WorkOrderItem.version == old.version)
            for h in _history(new, added, len(old.history)):
                tx.save(h)
            tx.save(_vehicle_ref(new))
            if not detached(new.customer_id):  # into a live customer's partition only
                tx.condition_check(CustomerItem, customer_pk(new.customer_id), PROFILE_SK, condition=live_customer())
                tx.save(_customer_ref(new))
            if old.status in OPEN and _board_sk(old) != _board_sk(new):
                tx.delete(_board_ref(old))
            if new.status in OPEN:
                tx.save(_board_ref(new))
    except TransactWriteError as exc:
        if conflicted(exc):
            raise PreconditionFailed("The work order was changed by someone else; fetch it again.") from exc
        current = get(old.id, consistent=True)
        if current is None:
            raise NotFound("No such record.") from exc
        if current.version != old.version:
            raise PreconditionFailed("The work order was changed by someone else; fetch it again.") from exc
        raise StaleRead("The customer is being erased; retry.") from exc


def board(branch_id: str, status: str | None) -> list[BoardEntry]:
    """The branch's open work orders (of one status), by status and soonest ETA: one Query (pages of 1 MB)."""
    with translated():
        condition = WorkOrderRefItem.sk.startswith(f"{status}#") if status else None
        return [BoardEntry(x.work_order_id, x.vin, x.status, x.stage, x.eta)
                for x in WorkOrderRefItem.query(board_pk(branch_id), condition) if isinstance(x, WorkOrderRefItem)]


def past_eta(branch_id: str, status: str, before: str) -> list[BoardEntry]:
    """The branch's work orders in `status` whose ETA is before `before` (ISO UTC): the board's keys sort by status
    and ETA, so one Query reads the late ones and nothing else."""
    with translated():
        condition = WorkOrderRefItem.sk.between(f"{status}#", f"{status}#{before}")
        return [BoardEntry(x.work_order_id, x.vin, x.status, x.stage, x.eta)
                for x in WorkOrderRefItem.query(board_pk(branch_id), condition) if isinstance(x, WorkOrderRefItem)]


def detach(work_order_id: str, customer_id: str) -> bool:
    """The work order kept as the vehicle's service history without its erased customer; False if it was gone or
    is someone else's. The customer's ref is the erasure's to delete."""
    from chalicelib.persistence.orders import detached_id

    for _ in range(ATTEMPTS):
        w = get(work_order_id, consistent=True)
        if w is None or w.customer_id != customer_id:
            return False
        kept = replace(w, customer_id=detached_id(customer_id), version=w.version + 1)
        try:
            with translated(), TransactWrite(connection=connection()) as tx:
                tx.save(to_item(kept), condition=WorkOrderItem.version == w.version)
        except TransactWriteError:
            continue
        return True
    raise StaleRead("The work order kept changing during the erasure; retry.")

