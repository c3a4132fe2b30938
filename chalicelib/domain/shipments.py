"""Shipments: which lines of an order went out with which carrier, each shipment's journey as events, and what
the shipments make of the order's status.

A shipment moves label_created -> picked_up -> in_transit -> out_for_delivery -> delivered (a carrier may skip
steps), with the side states attempted_delivery, delayed (with a new expected date), failed and returning. An
event is kept whether or not it moves the shipment: one that arrives after a later one (carriers deliver out of
order) or that the lifecycle does not allow is recorded as not applied.

The order follows its shipments: partially_shipped while its live shipments (all but failed and returning)
cover part of its lines, shipped when they cover all, delivered when delivered shipments cover all.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from chalicelib.domain.clock import iso
from chalicelib.domain.errors import Conflict, FieldError, Unprocessable
from chalicelib.domain.orders import HistoryEntry, Order, Status, stamps_of


@dataclass(frozen=True)
class Carrier:
    id: str
    name: str  # as a customer knows it, in messages
    tracking_url: str | None  # `{tn}` is the tracking number; None: no public tracking page (own fleet)


# The carriers an order may ship with. A new carrier is one line here, and its webhook key a secret named
# relasi-<stage>-carrier-<id> (infra/template.yaml); the tracking page forms are the carriers' public ones.
CARRIERS: dict[str, Carrier] = {c.id: c for c in (
    Carrier("jne", "JNE", "https://jne.co.id/tracking?awb={tn}"),
    Carrier("jnt", "J&T", "https://jet.co.id/track?awb={tn}"),
    Carrier("sicepat", "SiCepat", "https://sicepat.com/track?awb={tn}"),
    Carrier("pos", "Pos Indonesia", "https://posindonesia.co.id/lacak?id={tn}"),
    Carrier("own_fleet", "Relasi", None),
)}


class ShipmentStatus(StrEnum):
    LABEL_CREATED = "label_created"
    PICKED_UP = "picked_up"
    IN_TRANSIT = "in_transit"
    OUT_FOR_DELIVERY = "out_for_delivery"
    DELIVERED = "delivered"
    ATTEMPTED_DELIVERY = "attempted_delivery"
    DELAYED = "delayed"
    FAILED = "failed"
    RETURNING = "returning"


T = ShipmentStatus
_ON_THE_WAY = (T.PICKED_UP, T.IN_TRANSIT, T.OUT_FOR_DELIVERY, T.DELIVERED, T.DELAYED, T.FAILED, T.RETURNING)
NEXT: dict[str, tuple[str, ...]] = {
    T.LABEL_CREATED: _ON_THE_WAY,
    T.PICKED_UP: (T.IN_TRANSIT, T.OUT_FOR_DELIVERY, T.DELIVERED, T.DELAYED, T.FAILED, T.RETURNING),
    T.IN_TRANSIT: (T.IN_TRANSIT, T.OUT_FOR_DELIVERY, T.DELIVERED, T.DELAYED, T.FAILED, T.RETURNING),
    T.OUT_FOR_DELIVERY: (T.DELIVERED, T.ATTEMPTED_DELIVERY, T.DELAYED, T.FAILED, T.RETURNING),
    T.ATTEMPTED_DELIVERY: (T.OUT_FOR_DELIVERY, T.DELIVERED, T.DELAYED, T.FAILED, T.RETURNING),
    T.DELAYED: (T.IN_TRANSIT, T.OUT_FOR_DELIVERY, T.DELIVERED, T.DELAYED, T.FAILED, T.RETURNING),
    T.DELIVERED: (),
    T.FAILED: (T.RETURNING,),
    T.RETURNING: (),
}
NOT_LIVE = (T.FAILED, T.RETURNING)  # a shipment that will not reach the customer: its lines may ship again


@dataclass(frozen=True)
class ShippedLine:
    line_no: int
    qty: Decimal

    def to_dict(self) -> dict[str, Any]:
        return {"line_no": self.line_no, "qty": f"{self.qty:f}"}


@dataclass(frozen=True)
class NewShipment:
    carrier: str
    tracking_number: str
    lines: tuple[ShippedLine, ...]
    expected_delivery_date: str | None = None


@dataclass(frozen=True)
class NewEvent:
    status: str
    occurred_at: str  # ISO UTC
    expected_delivery_date: str | None = None  # with delayed: the new date
    event_id: str | None = None  # the carrier's id of the event: the same id twice is one event


@dataclass(frozen=True)
class Event:
    event_id: str
    status: str
    occurred_at: str
    received_at: str
    by: str  # a staff member's sub, or carrier:<id>
    applied: bool
    expected_delivery_date: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"event_id": self.event_id, "status": self.status, "occurred_at": self.occurred_at,
                "received_at": self.received_at, "by": self.by, "applied": self.applied,
                "expected_delivery_date": self.expected_delivery_date}


@dataclass
class Shipment:
    id: str
    order_id: str
    order_no: str
    customer_id: str
    branch_id: str
    notify_customer: bool
    carrier: str
    tracking_number: str
    lines: list[ShippedLine]
    status: str
    created_at: str
    updated_at: str
    created_by: str
    expected_delivery_date: str | None = None
    last_event_at: str | None = None  # when the latest applied event happened (the carrier's clock)
    version: int = 1
    events: list[Event] = field(default_factory=list)

    @property
    def tracking_url(self) -> str | None:
        carrier = CARRIERS.get(self.carrier)
        if carrier is None or carrier.tracking_url is None:
            return None
        return carrier.tracking_url.format(tn=self.tracking_number)

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "order_id": self.order_id, "order_no": self.order_no, "branch_id": self.branch_id,
                "carrier": self.carrier, "tracking_number": self.tracking_number, "tracking_url": self.tracking_url,
                "lines": [line.to_dict() for line in self.lines], "status": self.status,
                "expected_delivery_date": self.expected_delivery_date, "created_at": self.created_at,
                "updated_at": self.updated_at, "created_by": self.created_by, "last_event_at": self.last_event_at,
                "version": self.version, "events": [e.to_dict() for e in sorted(self.events, key=_event_order)]}


def _event_order(e: Event) -> tuple[str, str]:
    return e.occurred_at, e.received_at


def _covered(shipments: list[Shipment], *, delivered_only: bool) -> dict[int, Decimal]:
    covered: dict[int, Decimal] = {}
    for s in shipments:
        if s.status in NOT_LIVE or (delivered_only and s.status != T.DELIVERED):
            continue
        for line in s.lines:
            covered[line.line_no] = covered.get(line.line_no, Decimal("0")) + line.qty
    return covered


def check_new(order: Order, shipments: list[Shipment], new: NewShipment) -> None:
    """An order ships once confirmed; each line at most its ordered quantity over its live shipments."""
    if order.status not in (Status.CONFIRMED, Status.PARTIALLY_SHIPPED, Status.SHIPPED):
        raise Conflict(f"An order that is {order.status} cannot ship.", current_status=order.status)
    if new.carrier not in CARRIERS:
        raise Unprocessable([FieldError("carrier", f"must be one of: {', '.join(CARRIERS)}")])
    ordered = {line.line_no: line.qty for line in order.lines}
    covered = _covered(shipments, delivered_only=False)
    seen: set[int] = set()
    wrong: list[FieldError] = []
    for n, line in enumerate(new.lines):
        if line.line_no not in ordered:
            wrong.append(FieldError(f"lines.{n}.line_no", "is not a line of the order"))
        elif line.line_no in seen:
            wrong.append(FieldError(f"lines.{n}.line_no", "appears twice"))
        elif covered.get(line.line_no, Decimal("0")) + line.qty > ordered[line.line_no]:
            left = ordered[line.line_no] - covered.get(line.line_no, Decimal("0"))
            wrong.append(FieldError(f"lines.{n}.qty", f"is more than the {left:f} of the line not shipped yet"))
        seen.add(line.line_no)
    if wrong:
        raise Unprocessable(wrong)


def new_shipment(order: Order, new: NewShipment, *, shipment_id: str, by: str, now: datetime) -> Shipment:
    stamp = iso(now)
    return Shipment(id=shipment_id, order_id=order.id, order_no=order.order_no, customer_id=order.customer_id,
                    branch_id=order.branch_id, notify_customer=order.notify_customer, carrier=new.carrier,
                    tracking_number=new.tracking_number, lines=list(new.lines),
                    status=T.LABEL_CREATED.value, created_at=stamp, updated_at=stamp, created_by=by,
                    expected_delivery_date=new.expected_delivery_date)


def apply(s: Shipment, new: NewEvent, *, event_id: str, by: str, now: datetime, strict: bool) -> tuple[Shipment, Event]:
    """The shipment after the event, and the event as kept. An event older than the shipment's latest applied
    one, or a move the lifecycle does not allow, changes nothing (`applied` false); with `strict` (staff) a move
    the lifecycle does not allow is a Conflict naming the allowed next states instead."""
    allowed = NEXT.get(s.status, ())
    stale = s.last_event_at is not None and new.occurred_at < s.last_event_at
    legal = new.status in allowed
    if strict and not legal:
        raise Conflict(f"A shipment cannot go from {s.status} to {new.status}.", current_status=s.status,
                       allowed_next_states=list(allowed))
    if new.status == T.DELAYED and new.expected_delivery_date is None:
        raise Unprocessable([FieldError("expected_delivery_date", "is required with delayed (the new date)")])
    applied = legal and not stale
    event = Event(event_id=event_id, status=new.status, occurred_at=new.occurred_at, received_at=iso(now), by=by,
                  applied=applied, expected_delivery_date=new.expected_delivery_date)
    if not applied:
        return replace(s, events=[*s.events, event]), event
    changes: dict[str, Any] = {"status": new.status, "last_event_at": new.occurred_at, "updated_at": iso(now)}
    if new.expected_delivery_date is not None:
        changes["expected_delivery_date"] = new.expected_delivery_date
    return replace(s, **changes, events=[*s.events, event]), event


def tracking_url_of(tracking: str | None) -> str | None:
    """The tracking page of an order's `tracking` ("<carrier>:<number>"), or None."""
    if not tracking:
        return None
    carrier, _, number = tracking.partition(":")
    found = CARRIERS.get(carrier)
    return found.tracking_url.format(tn=number) if found and found.tracking_url else None


def with_tracking(order: Order, shipment: Shipment, now: datetime) -> Order:
    """The order pointing at its newest shipment (what the call centre's lookup links), changed once."""
    tracking = f"{shipment.carrier}:{shipment.tracking_number}"
    if order.tracking == tracking:
        return order
    return replace(order, tracking=tracking, updated_at=iso(now), version=order.version + 1)


def order_after(order: Order, shipments: list[Shipment], *, by: str, now: datetime) -> Order:
    """The order as its shipments make it: partially_shipped or shipped by what its live shipments cover,
    delivered when delivered shipments cover every line. It only moves forward; unchanged when nothing moves."""
    ordered = {line.line_no: line.qty for line in order.lines}

    def covers(covered: dict[int, Decimal]) -> bool:
        return all(covered.get(n, Decimal("0")) >= qty for n, qty in ordered.items())

    target: Status | None = None
    if covers(_covered(shipments, delivered_only=True)):
        target = Status.DELIVERED
    elif covers(_covered(shipments, delivered_only=False)):
        target = Status.SHIPPED
    elif any(s.status not in NOT_LIVE for s in shipments):
        target = Status.PARTIALLY_SHIPPED
    path = (Status.CONFIRMED, Status.PARTIALLY_SHIPPED, Status.SHIPPED, Status.DELIVERED)
    if target is None or order.status not in path or path.index(target) <= path.index(Status(order.status)):
        return order
    history, current = list(order.history), order.status
    for step in path[path.index(Status(order.status)) + 1:path.index(target) + 1]:
        if step == Status.PARTIALLY_SHIPPED and target != Status.PARTIALLY_SHIPPED:
            continue  # straight to shipped
        history.append(HistoryEntry(at=iso(now), by=by, change="status", from_value=current, to_value=step.value))
        current = step.value
    after = replace(order, status=target.value, history=history, updated_at=iso(now), version=order.version + 1)
    stamps = stamps_of(target, now)
    after.delivered_at = stamps.get("delivered_at", after.delivered_at)
    return after


SIGNATURE_MAX_AGE_SECONDS = 300


def signature_of(key: str, timestamp: str, body: bytes) -> str:
    """`sha256=<hex>`: HMAC-SHA256 with the carrier's key over `<timestamp>.<raw body>` (the timestamp header is
    signed with the body, so an old body cannot be sent again under a fresh time)."""
    import hashlib
    import hmac

    return "sha256=" + hmac.new(key.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()


def signature_ok(keys: tuple[str, ...], timestamp: str, body: bytes, signature: str) -> bool:
    import hmac

    return any(hmac.compare_digest(signature_of(key, timestamp, body), signature) for key in keys)


def fresh(timestamp: str, now: datetime) -> bool:
    """The signed time (Unix seconds) is at most SIGNATURE_MAX_AGE_SECONDS away from now (either way)."""
    if not timestamp.isascii() or not timestamp.isdigit() or len(timestamp) > 12:
        return False
    return abs(now.timestamp() - int(timestamp)) <= SIGNATURE_MAX_AGE_SECONDS
