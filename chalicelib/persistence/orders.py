"""Order repository: the order (its lines inside it) and its history in the order's partition (`O#<id>`: one
Query reads both), the order number's guard per branch, the branch's order-number sequence, and the three
indexes by placing time (all, a branch, a customer)."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from pynamodb.exceptions import TransactWriteError
from pynamodb.transactions import TransactWrite

from chalicelib.domain.errors import Conflict, NotFound, PreconditionFailed, StaleRead
from chalicelib.domain.money import money_text
from chalicelib.domain.orders import HistoryEntry, Line, Order
from chalicelib.persistence.errors import translated
from chalicelib.persistence.paging import RawKey, query_all, query_page
from chalicelib.persistence.tables import (
    GUARD_SK,
    HISTORY_PREFIX,
    PROFILE_SK,
    CustomerItem,
    Item,
    OrderHistoryItem,
    OrderItem,
    OrderNoGuardItem,
    customer_pk,
)
from chalicelib.persistence.tx import conflicted, connection, failed_codes, live_customer

ORDER_SK = "ORDER"
LATE_PK = "LATE"
ALL_ORDERS_PK = "ORD"  # orders_all
# An erased customer's orders keep the books: the customer id becomes this prefix + the erasure's pseudonym.
DETACHED_PREFIX = "erased:"


def order_pk(order_id: str) -> str:
    return f"O#{order_id}"


def _guard_pk(branch_id: str, order_no: str) -> str:
    return f"ORDERNO#{branch_id}#{order_no}"


def _lines_text(lines: list[Line]) -> str:
    """The lines as the API shows them, plus each one's cost price (stored, not shown)."""
    return json.dumps([{**line.to_dict(), "cost_price": money_text(line.cost_price)} for line in lines],
                      separators=(",", ":"))


def _price(text: str | None) -> Decimal | None:
    return None if text is None else Decimal(text)


def _lines(text: str) -> list[Line]:
    return [Line(line_no=int(x["line_no"]), sku=x["sku"], name=x["name"], unit=x["unit"], qty=Decimal(x["qty"]),
                 unit_price=Decimal(x["unit_price"]), discount_amount=Decimal(x["discount_amount"]),
                 tax_rate=Decimal(x["tax_rate"]), subtotal=Decimal(x["subtotal"]), tax=Decimal(x["tax"]),
                 total=Decimal(x["total"]), category=x.get("category", "other"), list_price=_price(x.get("list_price")),
                 cost_price=_price(x.get("cost_price"))) for x in json.loads(text)]


def to_item(o: Order) -> OrderItem:
    """The order's item: on the customer's timeline and `orders_by_customer` while it has a customer (an
    erased customer's orders are detached, `customer_id` the erasure's pseudonym), on `orders_late` while it
    awaits delivery."""
    o_sk = f"{o.placed_at}#{o.id}"
    detached = o.customer_id.startswith(DETACHED_PREFIX)
    item = OrderItem(pk=order_pk(o.id), sk=ORDER_SK, id=o.id, order_no=o.order_no, customer_id=o.customer_id,
                     branch_id=o.branch_id, channel=o.channel, status=o.status, payment_status=o.payment_status,
                     lines=_lines_text(o.lines), subtotal=money_text(o.subtotal),
                     discount_total=money_text(o.discount_total), tax_total=money_text(o.tax_total),
                     net_total=money_text(o.net_total), placed_at=o.placed_at, updated_at=o.updated_at,
                     created_by=o.created_by, notify_customer=o.notify_customer, promised_date=o.promised_date,
                     ref=o.ref, return_reason=o.return_reason, delivered_at=o.delivered_at,
                     returned_at=o.returned_at, late_since=o.late_since,
                     late_complaint_id=o.late_complaint_id, tracking=o.tracking, contact_phone=o.contact_phone,
                     placed_with_staff_phone=o.placed_with_staff_phone or None,
                     changed_after_delivery_at=o.changed_after_delivery_at, version=o.version,
                     oa_pk=ALL_ORDERS_PK,
                     ob_pk=f"ORD#{o.branch_id}", o_sk=o_sk)
    if not detached:
        item.oc_pk, item.tl_pk, item.tl_sk = f"ORDC#{o.customer_id}", customer_pk(o.customer_id), \
            f"{o.placed_at}#order#{o.id}"
    if o.awaits_delivery and not detached:
        item.late_pk, item.late_sk = LATE_PK, f"{o.promised_date}#{o.id}"
    return item


def from_item(item: OrderItem, history: list[HistoryEntry] | None = None) -> Order:
    return Order(id=item.id, order_no=item.order_no, customer_id=item.customer_id, branch_id=item.branch_id,
                 channel=item.channel, status=item.status, payment_status=item.payment_status,
                 lines=_lines(item.lines), subtotal=Decimal(item.subtotal), discount_total=Decimal(item.discount_total),
                 tax_total=Decimal(item.tax_total), net_total=Decimal(item.net_total), placed_at=item.placed_at,
                 updated_at=item.updated_at, created_by=item.created_by, notify_customer=bool(item.notify_customer),
                 promised_date=item.promised_date, ref=item.ref, return_reason=item.return_reason,
                 delivered_at=item.delivered_at, returned_at=item.returned_at,
                 late_since=item.late_since, late_complaint_id=item.late_complaint_id, tracking=item.tracking,
                 contact_phone=item.contact_phone, placed_with_staff_phone=bool(item.placed_with_staff_phone),
                 changed_after_delivery_at=item.changed_after_delivery_at, version=int(item.version),
                 history=history or [])


def history_items(o: Order, entries: list[HistoryEntry], first_seq: int) -> list[OrderHistoryItem]:
    return [OrderHistoryItem(pk=order_pk(o.id), sk=f"{HISTORY_PREFIX}{e.at}#{first_seq + n:04d}", at=e.at, by=e.by,
                             change=e.change, from_value=e.from_value, to_value=e.to_value)
            for n, e in enumerate(entries)]


def next_order_number(branch_id: str, year: int, count: int = 1) -> int:
    """The branch's next order number of the year (1, 2, ...): one atomic counter update. `count` reserves that
    many at once (bulk loads) and returns the last of them."""
    from chalicelib.aws import client
    from chalicelib.config import settings

    with translated():
        answer = client("dynamodb").update_item(
            TableName=settings().table_name, Key={"pk": {"S": f"SEQ#ORDER#{branch_id}#{year}"}, "sk": {"S": "SEQ"}},
            UpdateExpression="ADD #n :count SET #t = :type", ExpressionAttributeNames={"#n": "n", "#t": "type"},
            ExpressionAttributeValues={":count": {"N": str(count)}, ":type": {"S": "sequence"}},
            ReturnValues="UPDATED_NEW")
    return int(answer["Attributes"]["n"]["N"])


def create(o: Order) -> None:
    """One transaction: the customer is still a live customer of the order's branch, the order, its first history
    entry, the order number's guard. StaleRead when the customer is not (the use case reads again); Conflict
    naming the existing order when the branch has the order number already."""
    guard = OrderNoGuardItem(pk=_guard_pk(o.branch_id, o.order_no), sk=GUARD_SK, order_id=o.id)
    try:
        with translated(), TransactWrite(connection=connection()) as tx:
            tx.condition_check(CustomerItem, customer_pk(o.customer_id), PROFILE_SK,
                               condition=live_customer(o.branch_id))
            tx.save(to_item(o), condition=OrderItem.pk.does_not_exist())
            for h in history_items(o, o.history, 0):
                tx.save(h)
            tx.save(guard, condition=OrderNoGuardItem.pk.does_not_exist())
    except TransactWriteError as exc:
        if conflicted(exc):  # another transaction on the profile or the guard: nothing decided, read again
            raise StaleRead("The customer changed meanwhile; retry.") from exc
        codes = failed_codes(exc)
        if codes and codes[-1] == "ConditionalCheckFailed":
            holder = _guard_holder(o.branch_id, o.order_no)
            raise Conflict("This branch has an order with this number already.", existing_order_id=holder) from exc
        if codes and codes[0] == "ConditionalCheckFailed":
            raise StaleRead("The customer changed meanwhile; retry.") from exc
        raise


def _guard_holder(branch_id: str, order_no: str) -> str | None:
    return order_id_of(branch_id, order_no, consistent=True)


def order_id_of(branch_id: str, order_no: str, *, consistent: bool = False) -> str | None:
    """The id of the branch's order with this number, or None: one GetItem."""
    with translated():
        try:
            return str(OrderNoGuardItem.get(_guard_pk(branch_id, order_no.upper()), GUARD_SK,
                                            consistent_read=consistent).order_id)
        except OrderNoGuardItem.DoesNotExist:
            return None


def get(order_id: str, *, consistent: bool = False) -> Order | None:
    """The order with its history, shipments and their events: one Query of its partition."""
    from chalicelib.persistence.shipments import shipments_of

    items = query_all(order_pk(order_id), consistent=consistent)
    order = next((i for i in items if isinstance(i, OrderItem)), None)
    if order is None:
        return None
    history = [HistoryEntry(at=h.at, by=h.by, change=h.change, from_value=h.from_value, to_value=h.to_value)
               for h in items if isinstance(h, OrderHistoryItem)]
    found = from_item(order, history)
    found.shipments = shipments_of(items)
    return found


def update(old: Order, new: Order) -> None:
    """The order if its version is unchanged, with its new history entries."""
    added = new.history[len(old.history):]
    try:
        with translated(), TransactWrite(connection=connection()) as tx:
            tx.save(to_item(new), condition=OrderItem.version == old.version, return_values="ALL_OLD")
            for h in history_items(new, added, len(old.history)):
                tx.save(h)
    except TransactWriteError as exc:
        reasons = [r for r in exc.cancellation_reasons if r is not None and r.code == "ConditionalCheckFailed"]
        if reasons and not reasons[0].raw_item:
            raise NotFound("No such record.") from exc
        if reasons or conflicted(exc):  # changed, or being changed, by someone else: read it again
            raise PreconditionFailed("The order was changed by someone else; fetch it again.") from exc
        raise


def list_page(*, branch: str | None, customer_id: str | None, status: str | None, placed_from: str | None,
              placed_to: str | None, limit: int, start_key: RawKey | None) -> tuple[list[Order], RawKey | None]:
    """Newest first, by when they were placed (`placed_from` <= placed_at < `placed_to`, ISO UTC), from the most
    selective index; a status filters."""
    if customer_id:
        index, hash_key = "orders_by_customer", f"ORDC#{customer_id}"
    elif branch:
        index, hash_key = "orders_by_branch", f"ORD#{branch}"
    else:
        index, hash_key = "orders_all", ALL_ORDERS_PK
    key = OrderItem.o_sk
    range_condition: Any = None
    if placed_from and placed_to:
        range_condition = key.between(placed_from, placed_to)
    elif placed_from:
        range_condition = key >= placed_from
    elif placed_to:
        range_condition = key < placed_to
    page = query_page(hash_key, index_name=index, limit=limit, start_key=start_key, range_key_condition=range_condition,
                      filter_condition=(OrderItem.status == status) if status else None)
    return [from_item(i) for i in page.items if isinstance(i, OrderItem)], page.next_key


def detached_id(customer_id: str) -> str:
    """What an erased customer's orders keep instead of the id: a one-way hash of it (`erased:<26 hex>`), the same
    for all their orders (the export pseudonymises it like any customer id), which leads back to nobody."""
    import hashlib

    return DETACHED_PREFIX + hashlib.sha256(customer_id.encode()).hexdigest()[:26]


def detach(order_id: str, customer_id: str) -> bool:
    """The order (and its shipments) kept as a financial record without its erased customer: the customer id
    replaced, off the customer's timeline and order list, telling nobody. False if it was gone or detached."""
    from dataclasses import replace

    from chalicelib.persistence.shipments import to_item as shipment_item

    for _ in range(5):
        order = get(order_id, consistent=True)
        if order is None or order.customer_id != customer_id:
            return False
        kept = replace(order, customer_id=detached_id(customer_id), notify_customer=False, contact_phone=None,
                       version=order.version + 1)
        try:
            with translated(), TransactWrite(connection=connection()) as tx:
                tx.save(to_item(kept), condition=OrderItem.version == order.version)
                for s in order.shipments:
                    tx.save(shipment_item(replace(s, customer_id=kept.customer_id, notify_customer=False)))
        except TransactWriteError:
            continue  # changed meanwhile: read it again
        return True
    raise StaleRead("The order kept changing during the erasure; retry.")


def late(*, before: str) -> list[Order]:
    """Orders awaiting delivery whose promised date is before `before` (YYYY-MM-DD): the sparse `orders_late`
    index holds only orders on their way that were not found late yet, so this reads the late ones only."""
    found: list[Order] = []
    start: RawKey | None = None
    while True:
        page = query_page(LATE_PK, index_name="orders_late", limit=500, start_key=start, newest_first=False,
                          range_key_condition=OrderItem.late_sk < before)
        found += [from_item(i) for i in page.items if isinstance(i, OrderItem)]
        start = page.next_key
        if start is None:
            return found


def load(orders: list[Order]) -> None:
    """Bulk load for demo data: batch writes, no conditions. The caller guarantees unique ids and numbers."""
    with translated(), Item.batch_write() as batch:
        for o in orders:
            batch.save(to_item(o))
            for h in history_items(o, o.history, 0):
                batch.save(h)
            batch.save(OrderNoGuardItem(pk=_guard_pk(o.branch_id, o.order_no), sk=GUARD_SK, order_id=o.id))
