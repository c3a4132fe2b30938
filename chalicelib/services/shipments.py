"""Shipment use cases: ship lines of an order, and move a shipment along by an event from staff or from a
carrier's signed webhook. The order follows (chalicelib/domain/shipments.py order_after)."""

from __future__ import annotations

import time
from dataclasses import replace

from chalicelib.config import STALE_READ_ATTEMPTS, settings
from chalicelib.domain import shipments as rules
from chalicelib.domain.access import Access
from chalicelib.domain.clock import is_id, new_id, utcnow
from chalicelib.domain.errors import NotFound, StaleRead, Unauthorized
from chalicelib.domain.orders import Order
from chalicelib.domain.shipments import NewEvent, NewShipment, Shipment
from chalicelib.persistence import orders as orders_repo
from chalicelib.persistence import shipments as repo
from chalicelib.services import orders


def create(access: Access, order_id: str, new: NewShipment) -> tuple[Order, Shipment]:
    """The shipment of the order's lines, and the order as it now is (partially_shipped or shipped)."""
    order = orders.get(access, order_id)
    for _ in range(STALE_READ_ATTEMPTS):
        rules.check_new(order, order.shipments, new)
        now = utcnow()
        shipment = rules.new_shipment(order, new, shipment_id=new_id(now), by=access.principal.sub, now=now)
        after = rules.order_after(order, [*order.shipments, shipment], by=access.principal.sub, now=now)
        if after is not order:  # moved: one version more, whatever else changes with it
            after = replace(after, tracking=f"{shipment.carrier}:{shipment.tracking_number}")
        else:
            after = rules.with_tracking(order, shipment, now)
        try:
            repo.create(order, after, shipment)
        except StaleRead:
            order = _read_again(order.id)
            continue
        return replace(after, shipments=[*order.shipments, shipment]), shipment
    raise StaleRead("The order kept changing; retry.")


def _read_again(order_id: str) -> Order:
    order = orders_repo.get(order_id, consistent=True)
    if order is None:
        raise NotFound("No such record.")
    return order


def get(access: Access, shipment_id: str) -> tuple[Order, Shipment]:
    """The shipment and its order: two requests (where it lives, then the order's partition)."""
    order_id = repo.order_of(shipment_id) if is_id(shipment_id) else None
    order = orders.get(access, order_id) if order_id else None  # another branch's: 404, as a missing one
    shipment = next((s for s in order.shipments if s.id == shipment_id), None) if order else None
    if order is None or shipment is None:
        raise NotFound("No such record.")
    return order, shipment


def event(access: Access, shipment_id: str, new: NewEvent) -> tuple[Shipment, bool]:
    """Staff move a shipment along: a move the lifecycle does not allow is a 409 naming the allowed ones."""
    order, _ = get(access, shipment_id)
    return _record(order, shipment_id, new, event_id=new_id(utcnow()), by=access.principal.sub, strict=True)


def carrier_event(carrier: str, tracking_number: str, new: NewEvent) -> tuple[Shipment, bool]:
    """A carrier's event (its signature checked by `verify_carrier`): out of order or out of the lifecycle, it is
    kept and changes nothing; the same event id twice is recorded once."""
    found = repo.tracked(carrier, tracking_number)
    order = orders_repo.get(found[0]) if found else None
    if found is None or order is None:
        raise NotFound("No shipment of this carrier has this tracking number.")
    assert new.event_id is not None
    return _record(order, found[1], new, event_id=new.event_id, by=f"carrier:{carrier}", strict=False)


def _record(order: Order, shipment_id: str, new: NewEvent, *, event_id: str, by: str,
            strict: bool) -> tuple[Shipment, bool]:
    """(the shipment after the event, whether this call recorded it: False for an event recorded before)."""
    for _ in range(STALE_READ_ATTEMPTS):
        current = next((s for s in order.shipments if s.id == shipment_id), None)
        if current is None:
            raise NotFound("No such record.")
        if any(e.event_id == event_id for e in current.events):
            return current, False
        now = utcnow()
        moved, recorded = rules.apply(current, new, event_id=event_id, by=by, now=now, strict=strict)
        if recorded.applied:
            moved.version = current.version + 1
        others = [moved if s.id == shipment_id else s for s in order.shipments]
        after = rules.order_after(order, others, by=by, now=now)
        try:
            if not repo.record_event(order, after, moved, recorded):  # a twin delivery got there first
                return next(s for s in _read_again(order.id).shipments if s.id == shipment_id), False
        except StaleRead:
            order = _read_again(order.id)
            continue
        return moved, True
    raise StaleRead("The order kept changing; retry.")


KEY_RECHECK_SECONDS = 5
_rechecked: dict[str, float] = {}  # carrier -> when its key's versions were last read again (this container)
_fresh_keys: dict[str, tuple[str, ...]] = {}  # carrier -> the current and previous keys read then (both verify)


def verify_carrier(carrier: str, timestamp: str | None, signature: str | None, body: bytes) -> None:
    """The carrier's webhook signature (its key in Secrets Manager, relasi-<stage>-carrier-<carrier>, the current
    or, right after a rotation, the previous version) and a signed time within 5 minutes; Unauthorized if not."""
    from chalicelib.aws import secret_value, secret_versions

    if carrier not in rules.CARRIERS:
        raise NotFound("No such carrier.")
    if not timestamp or not signature:
        raise Unauthorized("X-Relasi-Timestamp and X-Relasi-Signature are required.")
    secret_id = f"{settings().carrier_secret_prefix}{carrier}"
    keys = (secret_value(secret_id), *_fresh_keys.get(carrier, ()))
    if not rules.signature_ok(keys, timestamp, body, signature):
        # Rotated since the key was cached? Both versions are read again, at most once per KEY_RECHECK_SECONDS
        # per carrier and container, so a flood of bad signatures costs few Secrets Manager calls.
        now = time.monotonic()
        if now - _rechecked.get(carrier, -KEY_RECHECK_SECONDS) < KEY_RECHECK_SECONDS:
            raise Unauthorized("The signature does not match the body.")
        _rechecked[carrier] = now
        current, previous = secret_versions(secret_id)
        _fresh_keys[carrier] = tuple(k for k in (current, previous) if k)
        if not rules.signature_ok(_fresh_keys[carrier], timestamp, body, signature):
            raise Unauthorized("The signature does not match the body.")
    if not rules.fresh(timestamp, utcnow()):
        raise Unauthorized("The signed timestamp is more than 5 minutes away from now; send the event again.")
