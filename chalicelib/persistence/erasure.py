"""Erasing a customer (the right to be forgotten) so that it holds under concurrent writes.

1. `begin`: one transaction turns the profile into a `customer_erasure` marker
   (only if it is still the live customer at the version the use case read, so
   the guards deleted with it are those of the profile's final state), deletes
   those phone/email guards and records that the erasure began (`ERASED#<day>`,
   for the sweeper). From then on every write of something the customer owns
   fails its ConditionCheck on the profile (chalicelib/persistence/tx.py
   `live_customer`) and answers 404, and no read, listing or lookup finds the
   customer: the marker carries no personal data and no index keys.
2. `erase_owned`: deletes everything in the customer's partition (consistent
   Query pages: interactions, due items, message claims, complaint links) and,
   before each link, the complaint it names (case and history); complaints
   found on the `timeline` index are erased too, and orders found there are
   detached (kept as financial records: chalicelib/persistence/orders.py
   `detach`); vehicles linked there lose their owner and keep their history
   (chalicelib/persistence/vehicles.py `detach`); appointments go whole, notes
   and all, their places freed (chalicelib/persistence/appointments.py `erase`);
   work orders stay as the vehicle's service history, detached like orders
   (chalicelib/persistence/work_orders.py `detach`). It repeats until a consistent read shows nothing but the marker.
3. `finish`: deletes the marker.

Every step can be repeated: an erasure cut short (a timeout, a crash) is
resumed by the next DELETE of the customer or by the sweeper
(chalicelib/workflows/erasure.py), which re-checks every erasure of the last
ERASURE_SWEEP_DAYS days from its record.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from pynamodb.exceptions import DeleteError, TransactWriteError
from pynamodb.transactions import TransactWrite

from chalicelib.config import ERASURE_RECORD_TTL_DAYS
from chalicelib.domain.clock import iso
from chalicelib.domain.customers import Customer
from chalicelib.domain.errors import StaleRead
from chalicelib.persistence.customers import guard_keys
from chalicelib.persistence.errors import translated
from chalicelib.persistence.tables import (
    GUARD_SK,
    PROFILE_SK,
    AppointmentRefItem,
    ComplaintItem,
    ComplaintLinkItem,
    CustomerErasureItem,
    CustomerItem,
    ErasureRecordItem,
    GuardItem,
    Item,
    OrderItem,
    RecipientItem,
    VehicleLinkItem,
    WorkOrderRefItem,
    complaint_link_sk,
    complaint_pk,
    customer_pk,
    erasure_record_pk,
)
from chalicelib.persistence.tx import connection

BATCH_WRITE_ITEMS = 25
# Passes over the customer's partition before giving up (each pass deletes what it found; a
# second pass finds only what a concurrent write slipped in before the marker, i.e. nothing).
ERASE_PASSES_MAX = 5


def begin(customer: Customer, now: datetime) -> None:
    """The point of no return (one transaction); raises StaleRead if the profile is no longer `customer`."""
    started = iso(now)
    try:
        with translated(), TransactWrite(connection=connection()) as tx:
            tx.save(
                CustomerErasureItem(pk=customer_pk(customer.id), sk=PROFILE_SK, id=customer.id,
                                    branch_id=customer.branch_id, started_at=started, version=customer.version + 1),
                condition=(Item.type == CustomerItem) & (CustomerItem.version == customer.version),
            )
            for guard in guard_keys(customer):
                # the guard of this version's phone/email: ours, unless a repair already removed it
                tx.delete(GuardItem(pk=guard, sk=GUARD_SK),
                          condition=GuardItem.pk.does_not_exist() | (GuardItem.customer_id == customer.id))
            tx.save(ErasureRecordItem(pk=erasure_record_pk(started[:10]), sk=customer.id, customer_id=customer.id,
                                      started_at=started,
                                      expires_at=int((now + timedelta(days=ERASURE_RECORD_TTL_DAYS)).timestamp())))
    except TransactWriteError as exc:
        raise StaleRead("The customer was changed meanwhile; retry.") from exc


def _delete_all(items: list[Item]) -> None:
    with translated(), Item.batch_write() as batch:
        for item in items:
            batch.delete(item)


def _erase_complaint(complaint_id: str) -> int:
    """A complaint's case and history: every item of its partition (consistent pages), and its link in the work
    order it was about."""
    with translated():
        items = list(Item.query(complaint_pk(complaint_id), consistent_read=True))
    from chalicelib.persistence.work_orders import work_order_pk

    about = [ComplaintLinkItem(pk=work_order_pk(i.work_order_id), sk=complaint_link_sk(complaint_id))
             for i in items if isinstance(i, ComplaintItem) and i.work_order_id]
    _delete_all([*items, *about])
    return len(items)


def erase_owned(customer_id: str) -> int:
    """Delete everything the customer owns, the marker aside; returns how many items were deleted."""
    from zoneinfo import ZoneInfo

    from chalicelib.config import settings
    from chalicelib.persistence import appointments, campaigns, orders, vehicles, work_orders

    zone = ZoneInfo(settings().timezone)

    deleted = 0
    with translated():
        on_timeline = list(Item.timeline.query(customer_pk(customer_id)))
    for x in on_timeline:
        if isinstance(x, ComplaintItem):
            deleted += _erase_complaint(x.id)
        elif isinstance(x, OrderItem):  # the books keep it, without the person (docs/security.md)
            deleted += orders.detach(x.id, customer_id)
        elif isinstance(x, RecipientItem):  # a campaign's report keeps its numbers, without the person
            deleted += campaigns.detach_recipient(x, orders.detached_id(customer_id))
    for _ in range(ERASE_PASSES_MAX):
        with translated():
            owned = [x for x in Item.query(customer_pk(customer_id), consistent_read=True) if x.sk != PROFILE_SK]
        if not owned:
            return deleted
        for link in owned:
            if isinstance(link, ComplaintLinkItem):
                deleted += _erase_complaint(link.complaint_id)  # the case first: a link is how it is found again
            elif isinstance(link, VehicleLinkItem):
                vehicles.detach(link.vin, customer_id)  # the vehicle stays with its history, without the owner
            elif isinstance(link, AppointmentRefItem):
                deleted += appointments.erase(link.appointment_id, zone)  # with its notes; its places freed
            elif isinstance(link, WorkOrderRefItem):
                work_orders.detach(link.work_order_id, customer_id)  # the vehicle's service history stays
        _delete_all(owned)
        deleted += len(owned)
    raise StaleRead("The customer's data kept changing during the erasure; retry.")


def finish(customer_id: str) -> None:
    """Delete the marker (if it is still there)."""
    try:
        with translated():
            CustomerErasureItem(pk=customer_pk(customer_id), sk=PROFILE_SK).delete(
                condition=Item.type == CustomerErasureItem)
    except DeleteError as exc:
        if exc.cause_response_code != "ConditionalCheckFailedException":
            raise


def begun_on(day: str) -> list[tuple[str, str]]:
    """(customer id, when it began) of the erasures begun on the UTC day `day` (YYYY-MM-DD), from their records."""
    with translated():
        return [(x.customer_id, x.started_at) for x in Item.query(erasure_record_pk(day), consistent_read=True)
                if isinstance(x, ErasureRecordItem)]


def forget(customer_id: str, started_at: str) -> None:
    """Delete the record of an erasure found complete."""
    with translated():
        ErasureRecordItem(pk=erasure_record_pk(started_at[:10]), sk=customer_id).delete()
