"""Table stream records as domain changes: decoded once, here, where the key layout and item types are known.

A record's images are DynamoDB JSON; `decode` turns each into the domain
object it stores (a Customer, an Interaction, a Complaint, an Order, a Shipment, an Appointment, a Work
order, a Survey) through the same
PynamoDB models and converters the repositories use, or None for items no
consumer acts on (guards, claims, links, history entries, due items, erasure
markers and records). Workflows and the real-time aggregates
(chalicelib/workflows/stream.py) get `Change`s, never items.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from chalicelib.domain.appointments import Appointment
from chalicelib.domain.complaints import Complaint
from chalicelib.domain.customers import Customer
from chalicelib.domain.interactions import Interaction
from chalicelib.domain.orders import Order
from chalicelib.domain.shipments import Shipment
from chalicelib.domain.surveys import Survey
from chalicelib.domain.vehicles import Vehicle
from chalicelib.domain.work_orders import WorkOrder
from chalicelib.persistence import (
    appointments,
    complaints,
    customers,
    interactions,
    orders,
    shipments,
    surveys,
    vehicles,
    work_orders,
)
from chalicelib.persistence.tables import (
    AppointmentItem,
    ComplaintItem,
    CustomerItem,
    InteractionItem,
    Item,
    OrderItem,
    ShipmentItem,
    SurveyItem,
    VehicleItem,
    WorkOrderItem,
)

Entity = Customer | Interaction | Complaint | Order | Shipment | Appointment | WorkOrder | Vehicle | Survey


@dataclass(frozen=True)
class Change:
    """One stream record: what the item was (None: it is new) and what it is (None: it was deleted)."""

    event_id: str
    inserted: bool  # the record is an INSERT (a new item), not a MODIFY or a REMOVE
    old: Entity | None
    new: Entity | None


def decode_image(raw: Mapping[str, Any] | None) -> Entity | None:
    """The domain object a stored item (DynamoDB JSON) holds, or None for an item no consumer acts on."""
    if not raw:
        return None
    try:
        item = Item.from_raw_data(dict(raw))
    except ValueError:  # a kind of item this code does not know (written by a newer version): nothing to act on
        return None
    if isinstance(item, CustomerItem):
        return customers.from_item(item)
    if isinstance(item, InteractionItem):
        return interactions.from_item(item)
    if isinstance(item, ComplaintItem):
        return complaints.from_item(item)
    if isinstance(item, OrderItem):
        return orders.from_item(item)
    if isinstance(item, ShipmentItem):
        return shipments.from_item(item)
    if isinstance(item, AppointmentItem):
        return appointments.from_item(item)
    if isinstance(item, WorkOrderItem):
        return work_orders.from_item(item)
    if isinstance(item, VehicleItem):
        return vehicles.from_item(item)
    if isinstance(item, SurveyItem):
        return surveys.from_item(item)
    return None


def decode(record: Mapping[str, Any]) -> Change:
    """A DynamoDB stream record (as Lambda delivers it) as a Change."""
    body = record.get("dynamodb") or {}
    event_id = record.get("eventID") or f"seq-{body.get('SequenceNumber')}"
    return Change(str(event_id), record.get("eventName") == "INSERT",
                  decode_image(body.get("OldImage")), decode_image(body.get("NewImage")))


def stored() -> Iterator[Entity]:
    """Every Customer, Interaction and Complaint the CRM table holds now: a Scan with the export's reader,
    each item decoded as its stream record's image would be (the counters' recount)."""
    from chalicelib.persistence.export_source import scan_pages

    for page in scan_pages(0, 1):
        for raw in page:
            entity = decode_image(raw)
            if entity is not None:
                yield entity
