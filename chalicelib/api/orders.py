"""Routes of orders: place one for a customer, list, read, move it along (models: chalicelib/api/orders_models.py)."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from chalicelib.api import cursors
from chalicelib.api.http import Call, Reply, RouteSpec, View
from chalicelib.config import settings
from chalicelib.domain.clock import iso
from chalicelib.domain.orders import Order

if TYPE_CHECKING:
    from chalicelib.api.orders_models import (
        CustomerOrdersQuery,
        OrderCreate,
        OrderListQuery,
        OrderLookupQuery,
        OrderPatch,
    )


def _reply(o: Order, status: int = 200, **headers: str) -> Reply:
    return Reply(o.to_dict(), status, {"ETag": o.etag, **headers})


def _page(items: list[Order], next_cursor: str | None) -> Reply:
    return Reply({"items": [o.to_dict() for o in items], "next_cursor": next_cursor})


def _day_start(day: date) -> str:
    """The first instant of a local day (the deployment's TIMEZONE), as stored times are written (ISO UTC)."""
    return iso(datetime.combine(day, time(0), tzinfo=ZoneInfo(settings().timezone)))


def place_order(call: Call[OrderCreate, None], customer_id: str) -> Reply:
    from chalicelib.services import orders

    o = orders.place(call.caller, customer_id, call.body.to_domain())
    return _reply(o, 201, Location=f"/orders/{o.id}")


def get_order(call: Call[None, None], order_id: str) -> Reply:
    from chalicelib.services import orders

    return _reply(orders.get(call.caller, order_id))


def patch_order(call: Call[OrderPatch, None], order_id: str) -> Reply:
    from chalicelib.services import orders

    return _reply(orders.update(call.caller, order_id, call.header("If-Match"), call.body.to_domain()))


def lookup_orders(call: Call[None, OrderLookupQuery]) -> Reply:
    from chalicelib.domain.orders import ON_ITS_WAY, status_text
    from chalicelib.domain.shipments import tracking_url_of
    from chalicelib.services import orders

    q = call.query
    customer_id, found, language = orders.lookup(call.caller, order_no=q.order_no, branch=q.branch, phone=q.phone)
    lang = q.lang or language or "id"
    return Reply({"customer_id": customer_id, "items": [
        {"id": o.id, "order_no": o.order_no, "status": o.status, "status_text": status_text(o, lang),
         "expected_date": o.promised_date if o.status in ON_ITS_WAY else None,
         "tracking_url": tracking_url_of(o.tracking),
         "net_total": o.to_dict()["net_total"], "placed_at": o.placed_at} for o in found]})


def customer_orders(call: Call[None, CustomerOrdersQuery], customer_id: str) -> Reply:
    from chalicelib.services import orders

    scope = "|".join(map(str, [call.caller.operation, call.caller.branch, customer_id]))
    items, next_key = orders.of_customer(call.caller, customer_id, call.query.limit,
                                         cursors.decode(call.query.cursor, scope))
    return _page(items, cursors.encode(next_key, scope))


def list_orders(call: Call[None, OrderListQuery]) -> Reply:
    from chalicelib.services import orders

    q = call.query
    status = q.status.value if q.status else None
    scope = "|".join(map(str, [call.caller.operation, call.caller.branch, q.branch, status, q.placed_from, q.placed_to]))
    items, next_key = orders.list_page(
        call.caller, branch=q.branch, status=status,
        placed_from=_day_start(q.placed_from) if q.placed_from else None,
        placed_to=_day_start(q.placed_to + timedelta(days=1)) if q.placed_to else None,
        limit=q.limit, start_key=cursors.decode(q.cursor, scope))
    return _page(items, cursors.encode(next_key, scope))


ONE = "/orders/{order_id}"
OF_CUSTOMER = "/customers/{customer_id}/orders"
ROUTES: list[tuple[RouteSpec, View]] = [
    (RouteSpec("POST", OF_CUSTOMER, "orders.create", "Place an order for a customer (totals computed here)", 201,
               response="OrderOut", errors=(400, 401, 403, 404, 409, 413, 415, 422),
               headers=("ETag", "Location")), place_order),
    (RouteSpec("GET", OF_CUSTOMER, "orders.list", "A customer's orders, newest first", response="OrderPage",
               errors=(400, 401, 403, 404)), customer_orders),
    (RouteSpec("GET", "/orders", "orders.list", "List orders by branch, status and placing day, newest first",
               response="OrderPage", errors=(400, 401, 403)), list_orders),
    (RouteSpec("GET", "/orders/lookup", "orders.get", "Where is my order? By the branch's order number or the "
               "caller's phone: the latest orders with their status as a sentence", response="OrderLookup",
               errors=(400, 401, 403, 404, 422)), lookup_orders),
    (RouteSpec("GET", ONE, "orders.get", "Read an order with its lines and history", response="OrderOut",
               errors=(400, 401, 403, 404), headers=("ETag",)), get_order),
    (RouteSpec("PATCH", ONE, "orders.update", "Move an order along its lifecycle, its payment or promised date; "
               "If-Match required", response="OrderOut", errors=(400, 401, 403, 404, 409, 412, 413, 415, 422, 428),
               headers=("ETag",)), patch_order),
]
