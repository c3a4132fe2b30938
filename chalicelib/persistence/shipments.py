"""Shipment repository: each shipment and its events in its order's partition (`O#<order id>`: `SHIP#<id>`,
`SHEV#<shipment id>#<event id>`), so one Query reads the order whole; `SHIP#<id>` points a shipment id to its
order and `TRACK#<carrier>#<number>` a carrier's tracking number to its shipment (unique per carrier).

Every write is one transaction over the order and all its shipments at the versions read, so two events on two
shipments of one order cannot both miss that together they deliver it.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from pynamodb.exceptions import TransactWriteError
from pynamodb.transactions import TransactWrite

from chalicelib.domain.errors import Conflict, StaleRead
from chalicelib.domain.orders import Order
from chalicelib.domain.shipments import Event, Shipment, ShippedLine
from chalicelib.persistence.errors import translated
from chalicelib.persistence.orders import ORDER_SK, history_items, order_pk
from chalicelib.persistence.orders import to_item as order_item
from chalicelib.persistence.tables import (
    GUARD_SK,
    OrderItem,
    ShipmentEventItem,
    ShipmentItem,
    ShipmentRefItem,
)
from chalicelib.persistence.tx import conflicted, connection, failed_codes

SHIPMENT_PREFIX = "SHIP#"
EVENT_PREFIX = "SHEV#"
REF_SK = "SHIPMENT"


def _event_sk(shipment_id: str, event_id: str) -> str:
    return f"{EVENT_PREFIX}{shipment_id}#{event_id}"


def _tracking_pk(carrier: str, tracking_number: str) -> str:
    return f"TRACK#{carrier}#{tracking_number.upper()}"


def to_item(s: Shipment) -> ShipmentItem:
    return ShipmentItem(pk=order_pk(s.order_id), sk=f"{SHIPMENT_PREFIX}{s.id}", id=s.id, order_id=s.order_id,
                        order_no=s.order_no, customer_id=s.customer_id, branch_id=s.branch_id,
                        notify_customer=s.notify_customer, carrier=s.carrier, tracking_number=s.tracking_number,
                        lines=json.dumps([line.to_dict() for line in s.lines], separators=(",", ":")),
                        status=s.status, created_at=s.created_at, updated_at=s.updated_at, created_by=s.created_by,
                        expected_delivery_date=s.expected_delivery_date, last_event_at=s.last_event_at,
                        version=s.version)


def from_item(item: ShipmentItem, events: list[Event] | None = None) -> Shipment:
    return Shipment(id=item.id, order_id=item.order_id, order_no=item.order_no, customer_id=item.customer_id,
                    branch_id=item.branch_id, notify_customer=bool(item.notify_customer), carrier=item.carrier,
                    tracking_number=item.tracking_number,
                    lines=[ShippedLine(int(x["line_no"]), Decimal(x["qty"])) for x in json.loads(item.lines)],
                    status=item.status, created_at=item.created_at, updated_at=item.updated_at,
                    created_by=item.created_by, expected_delivery_date=item.expected_delivery_date,
                    last_event_at=item.last_event_at, version=int(item.version), events=events or [])


def _event_item(s: Shipment, e: Event) -> ShipmentEventItem:
    return ShipmentEventItem(pk=order_pk(s.order_id), sk=_event_sk(s.id, e.event_id), event_id=e.event_id,
                             status=e.status, occurred_at=e.occurred_at, received_at=e.received_at, by=e.by,
                             applied=e.applied, expected_delivery_date=e.expected_delivery_date)


def shipments_of(items: list[Any]) -> list[Shipment]:
    """The shipments (with their events) among the items of an order's partition, oldest first."""
    events: dict[str, list[Event]] = {}
    for x in items:
        if isinstance(x, ShipmentEventItem):
            shipment_id = x.sk[len(EVENT_PREFIX):].split("#", 1)[0]
            events.setdefault(shipment_id, []).append(Event(
                event_id=x.event_id, status=x.status, occurred_at=x.occurred_at, received_at=x.received_at, by=x.by,
                applied=bool(x.applied), expected_delivery_date=x.expected_delivery_date))
    return [from_item(x, events.get(x.id)) for x in items if isinstance(x, ShipmentItem)]


def order_of(shipment_id: str) -> str | None:
    """The id of the shipment's order, or None: one GetItem."""
    with translated():
        try:
            return str(ShipmentRefItem.get(f"{SHIPMENT_PREFIX}{shipment_id}", REF_SK).order_id)
        except ShipmentRefItem.DoesNotExist:
            return None


def tracked(carrier: str, tracking_number: str) -> tuple[str, str] | None:
    """(order id, shipment id) of the carrier's tracking number, or None: one GetItem."""
    with translated():
        try:
            ref = ShipmentRefItem.get(_tracking_pk(carrier, tracking_number), GUARD_SK)
        except ShipmentRefItem.DoesNotExist:
            return None
    return str(ref.order_id), str(ref.shipment_id)


def _first_put_refused(exc: TransactWriteError, old: Order, new: Order, but: str) -> bool:
    """Whether the transaction's first put (a guard: the tracking number, the event) failed its condition, and
    nothing else was going on. PynamoDB sends a transaction's condition checks before its puts, so that put's
    reason comes after those `_order_write` and `_others_unchanged` add."""
    codes = failed_codes(exc)
    first_put = (new.version == old.version) + sum(1 for other in old.shipments if other.id != but)
    return not conflicted(exc) and len(codes) > first_put and codes[first_put] == "ConditionalCheckFailed"


def _order_write(tx: TransactWrite, old: Order, new: Order) -> None:
    """The order as the shipments made it, or (unchanged) a check that nobody changed it since it was read."""
    if new.version == old.version:
        tx.condition_check(OrderItem, order_pk(old.id), ORDER_SK, condition=OrderItem.version == old.version)
        return
    tx.save(order_item(new), condition=OrderItem.version == old.version)
    for h in history_items(new, new.history[len(old.history):], len(old.history)):
        tx.save(h)


def _others_unchanged(tx: TransactWrite, order: Order, but: str) -> None:
    for other in order.shipments:
        if other.id != but:
            tx.condition_check(ShipmentItem, order_pk(order.id), f"{SHIPMENT_PREFIX}{other.id}",
                               condition=ShipmentItem.version == other.version)


def create(old: Order, new: Order, s: Shipment) -> None:
    """The shipment, where to find it, and the order it moves: one transaction. Conflict naming the shipment
    when the carrier's tracking number is taken; StaleRead when the order or a shipment changed since read."""
    try:
        with translated(), TransactWrite(connection=connection()) as tx:
            tx.save(ShipmentRefItem(pk=_tracking_pk(s.carrier, s.tracking_number), sk=GUARD_SK, order_id=s.order_id,
                                    shipment_id=s.id), condition=ShipmentRefItem.pk.does_not_exist())
            tx.save(to_item(s), condition=ShipmentItem.pk.does_not_exist())
            tx.save(ShipmentRefItem(pk=f"{SHIPMENT_PREFIX}{s.id}", sk=REF_SK, order_id=s.order_id, shipment_id=s.id))
            _order_write(tx, old, new)
            _others_unchanged(tx, old, s.id)
    except TransactWriteError as exc:
        if _first_put_refused(exc, old, new, s.id):
            holder = tracked(s.carrier, s.tracking_number)
            raise Conflict("This carrier's tracking number belongs to another shipment.",
                           existing_shipment_id=holder[1] if holder else None) from exc
        raise StaleRead("The order changed meanwhile; retry.") from exc


def record_event(old: Order, new: Order, shipment: Shipment, event: Event) -> bool:
    """The event (once: False when it was recorded already), the shipment after it, and the order it moves:
    one transaction. StaleRead when the order or one of its shipments changed since read."""
    before = next(x for x in old.shipments if x.id == shipment.id)
    try:
        with translated(), TransactWrite(connection=connection()) as tx:
            tx.save(_event_item(shipment, event), condition=ShipmentEventItem.pk.does_not_exist())
            tx.save(to_item(shipment), condition=ShipmentItem.version == before.version)
            _order_write(tx, old, new)
            _others_unchanged(tx, old, shipment.id)
    except TransactWriteError as exc:
        if _first_put_refused(exc, old, new, shipment.id):
            return False
        raise StaleRead("The order changed meanwhile; retry.") from exc
    return True


def load(order: Order) -> None:
    """Bulk load of an order's shipments (demo data): batch writes, no conditions."""
    from chalicelib.persistence.tables import Item

    with translated(), Item.batch_write() as batch:
        for s in order.shipments:
            batch.save(to_item(s))
            batch.save(ShipmentRefItem(pk=f"{SHIPMENT_PREFIX}{s.id}", sk=REF_SK, order_id=s.order_id,
                                       shipment_id=s.id))
            batch.save(ShipmentRefItem(pk=_tracking_pk(s.carrier, s.tracking_number), sk=GUARD_SK,
                                       order_id=s.order_id, shipment_id=s.id))
            for e in s.events:
                batch.save(_event_item(s, e))
