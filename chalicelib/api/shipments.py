"""Routes of shipments: ship an order's lines, read a shipment, record its events (staff), and the carriers'
signed webhook (models: chalicelib/api/shipments_models.py; a shipment's answer model is the order's part,
chalicelib/api/orders_models.py ShipmentOut)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from chalicelib.api.http import Call, Reply, RouteSpec, View
from chalicelib.domain.shipments import Shipment

if TYPE_CHECKING:
    from chalicelib.api.shipments_models import CarrierEvent, ShipmentCreate, ShipmentEventCreate


def _shipment(s: Shipment, order_status: str | None = None, status: int = 200, **headers: str) -> Reply:
    return Reply({**s.to_dict(), "order_status": order_status}, status, headers)


def create_shipment(call: Call[ShipmentCreate, None], order_id: str) -> Reply:
    from chalicelib.services import shipments

    order, s = shipments.create(call.caller, order_id, call.body.to_domain())
    return _shipment(s, order.status, 201, Location=f"/shipments/{s.id}")


def get_shipment(call: Call[None, None], shipment_id: str) -> Reply:
    from chalicelib.services import shipments

    order, s = shipments.get(call.caller, shipment_id)
    return _shipment(s, order.status)


def add_event(call: Call[ShipmentEventCreate, None], shipment_id: str) -> Reply:
    from chalicelib.services import shipments

    s, recorded = shipments.event(call.caller, shipment_id, call.body.to_domain())
    return _shipment(s, status=201 if recorded else 200)


def carrier_event(call: Call[CarrierEvent, None], carrier: str) -> Reply:
    """Authenticated by the carrier's signature, not a token (the route is public at the gateway)."""
    from chalicelib.services import shipments

    raw = call.request.raw_body or b""
    shipments.verify_carrier(carrier, call.header("X-Relasi-Timestamp"), call.header("X-Relasi-Signature"),
                             raw.encode() if isinstance(raw, str) else raw)
    event = call.body.to_domain()
    s, recorded = shipments.carrier_event(carrier, call.body.tracking_number, event)
    applied = recorded and s.events[-1].applied if s.events else False
    return Reply({"recorded": recorded, "applied": applied, "shipment_status": s.status})


ONE = "/shipments/{shipment_id}"
ROUTES: list[tuple[RouteSpec, View]] = [
    (RouteSpec("POST", "/orders/{order_id}/shipments", "shipments.create", "Ship lines of a confirmed order with a "
               "carrier; the order becomes partially_shipped or shipped", 201, response="orders_models:ShipmentOut",
               errors=(400, 401, 403, 404, 409, 413, 415, 422), headers=("Location",)), create_shipment),
    (RouteSpec("GET", ONE, "orders.get", "Read a shipment with its events", response="orders_models:ShipmentOut",
               errors=(400, 401, 403, 404)), get_shipment),
    (RouteSpec("POST", f"{ONE}/events", "shipments.event", "Record a step of a shipment's journey (201; 200 when "
               "it was recorded before); the order follows", 201, response="orders_models:ShipmentOut",
               errors=(400, 401, 403, 404, 409, 413, 415, 422)), add_event),
    (RouteSpec("POST", "/carrier-events/{carrier}", None, "A carrier's shipment event, signed: X-Relasi-Signature "
               "= sha256=HMAC-SHA256(carrier key, X-Relasi-Timestamp + '.' + raw body), the timestamp (Unix "
               "seconds) within 5 minutes; the same event_id again changes nothing", response="CarrierEventResult",
               errors=(400, 401, 404, 413, 415, 422)), carrier_event),
]
